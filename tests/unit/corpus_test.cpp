// Shards and manifest: round trip, structure checks that name the file, deterministic splits.
#include <gtest/gtest.h>

#include <fstream>

#include "core/sha256.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

TEST(Sha256, KnownVectors) {
  core::Sha256 empty;
  EXPECT_EQ(empty.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  core::Sha256 abc;
  abc.update("abc", 3);
  EXPECT_EQ(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  core::Sha256 split;  // same bytes fed in pieces across the 64-byte block boundary
  const std::string text(1000, 'a');
  split.update(text.data(), 63);
  split.update(text.data() + 63, 937);
  core::Sha256 whole;
  whole.update(text.data(), 1000);
  EXPECT_EQ(split.hex_digest(), whole.hex_digest());
}

TEST(Split, DeterministicAndNearTheFractions) {
  int counts[3] = {0, 0, 0};
  for (std::uint64_t h = 0; h < 100000; ++h) {
    const int s = choose_split(h * 0x9e3779b97f4a7c15ULL, 0.1, 0.2);
    EXPECT_EQ(s, choose_split(h * 0x9e3779b97f4a7c15ULL, 0.1, 0.2));
    ++counts[s];
  }
  EXPECT_NEAR(counts[0] / 1e5, 0.7, 0.01);
  EXPECT_NEAR(counts[1] / 1e5, 0.1, 0.01);
  EXPECT_NEAR(counts[2] / 1e5, 0.2, 0.01);
}

TEST(Shard, RoundTripAndStructureErrorsNameTheFile) {
  const std::string dir = testing::make_temp_dir("shard");
  ColumnBuffer columns({{"x", DType::kFloat32, {3}, "three floats"}, {"y", DType::kInt64, {}, "an integer"}});
  for (int r = 0; r < 100; ++r) {
    const float x[3] = {r * 1.f, r * 2.f, r * 3.f};
    columns.put(0, x, 3);
    columns.put(1, static_cast<std::int64_t>(r * 1000));
    columns.end_row();
  }
  const std::string path = dir + "/shard-00000.h5";
  write_shard(path, columns, {16, 1}, "test");
  ShardReader reader(path, columns.specs());
  EXPECT_EQ(reader.rows(), 100u);
  EXPECT_EQ(reader.chunk_rows(), 16u);
  float x[6];
  reader.read(0, 40, 2, x);
  EXPECT_FLOAT_EQ(x[0], 40.f);
  EXPECT_FLOAT_EQ(x[5], 123.f);
  std::int64_t y;
  reader.read(1, 99, 1, &y);
  EXPECT_EQ(y, 99000);

  auto expect_error = [&](const std::vector<ColumnSpec>& schema, const char* what) {
    try {
      ShardReader bad(path, schema);
      FAIL() << what;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error({{"z", DType::kFloat32, {3}, ""}}, "missing dataset 'z'");
  expect_error({{"x", DType::kFloat32, {4}, ""}}, "wrong shape");
  expect_error({{"x", DType::kFloat64, {3}, ""}}, "wrong element type");
  // A file that is not HDF5 at all.
  std::ofstream(dir + "/junk.h5") << "not hdf5";
  try {
    ShardReader junk(dir + "/junk.h5", columns.specs());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.h5"), std::string::npos);
  }
  testing::remove_tree(dir);
}

TEST(Corpus, ManifestDescribesShardsWithHashes) {
  const std::string dir = testing::make_temp_dir("corpus");
  const std::string corpus = testing::make_synth_corpus(dir);
  const Manifest m = read_manifest(corpus);
  EXPECT_EQ(m.encoder, "mmae");
  EXPECT_EQ(m.label_names, (std::vector<std::string>{"dns", "http", "quic", "scan", "ssh", "tls"}));
  EXPECT_EQ(m.samples("train") + m.samples("val") + m.samples("test"), 400u);
  EXPECT_GT(m.samples("val"), 10u);
  EXPECT_GE(m.shards_of("train").size(), 2u);
  for (const auto& s : m.shards) {
    EXPECT_EQ(core::sha256_file(corpus + "/" + s.file), s.sha256);
    ShardReader reader(corpus + "/" + s.file, m.columns);
    EXPECT_EQ(reader.rows(), s.samples);
  }
  ASSERT_EQ(m.columns.size(), 7u);  // 5 mmae columns + label + flow_hash
  EXPECT_EQ(m.columns[0].name, "bytes");
  EXPECT_EQ(m.columns[0].shape, (std::vector<std::uint64_t>{1600}));
  // No flow in two splits: every flow hash belongs to exactly one split.
  std::map<std::uint64_t, std::string> split_of;
  for (const auto& s : m.shards) {
    ShardReader reader(corpus + "/" + s.file, m.columns);
    std::vector<std::uint64_t> hashes(s.samples);
    reader.read(6, 0, s.samples, hashes.data());
    for (auto h : hashes) {
      auto [it, fresh] = split_of.emplace(h, s.split);
      EXPECT_EQ(it->second, s.split);
    }
  }
  testing::remove_tree(dir);
}

TEST(Corpus, ManifestErrorsNameTheFile) {
  const std::string dir = testing::make_temp_dir("manifest");
  try {
    read_manifest(dir);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/manifest.json"), std::string::npos);
  }
  std::ofstream(dir + "/manifest.json") << "{\"format_version\": 1, \"encoder\": ";
  EXPECT_THROW(read_manifest(dir), std::runtime_error);
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::datasets

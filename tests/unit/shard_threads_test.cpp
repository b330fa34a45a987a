// Shards whose chunks are filtered by our code, on any number of threads: the chunk bytes are
// those of HDF5's own shuffle + deflate filters (at deflate level 1, ISA-L's deflate: the same
// bytes once inflated), and the corpus bytes do not depend on the number of threads (nor on the
// run: no object times are stored).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/sha256.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<ColumnSpec> mixed_schema() {
  return {{"bytes", DType::kUint8, {40}, "bytes"},
          {"x", DType::kFloat32, {3}, "floats"},
          {"n", DType::kInt64, {}, "integers"},
          {"tokens", DType::kInt32, {2}, "ragged pairs", true}};
}

// Row r of mixed_schema(), varied enough that deflate has work to do.
void put_row(ColumnBuffer& b, int r) {
  std::uint8_t bytes[40] = {};
  for (int i = 0; i < 40; ++i)
    bytes[i] = static_cast<std::uint8_t>(i < 10 + r % 30 ? (r * 7 + i * i) % 251 : 0);
  const float x[3] = {r * 0.5f, -r * 1.25f, 1.0f / (r + 1)};
  b.put(0, bytes, 40);
  b.put(1, x, 3);
  b.put(2, static_cast<std::int64_t>(r) * 1000003);
  std::vector<std::int32_t> tokens(2 * (r % 5));
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = r * 100 + static_cast<int>(i);
  b.put(3, tokens.data(), tokens.size());
}

// Every raw (filtered) chunk of dataset `name` and its filter mask.
std::vector<std::string> raw_chunks(const std::string& path, const std::string& name) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  const hid_t space = H5Dget_space(dataset);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  const hid_t plist = H5Dget_create_plist(dataset);
  std::vector<hsize_t> chunk(rank);
  H5Pget_chunk(plist, rank, chunk.data());
  std::vector<std::string> out;
  std::vector<hsize_t> offset(rank, 0);
  for (offset[0] = 0; offset[0] < dims[0]; offset[0] += chunk[0]) {
    hsize_t size = 0;
    H5Dget_chunk_storage_size(dataset, offset.data(), &size);
    std::string bytes(size, '\0');
    std::uint32_t mask = 99;
    EXPECT_GE(H5Dread_chunk(dataset, H5P_DEFAULT, offset.data(), &mask, bytes.data()), 0);
    out.push_back(std::to_string(mask) + ":" + bytes);
  }
  H5Pclose(plist);
  H5Sclose(space);
  H5Dclose(dataset);
  H5Fclose(file);
  return out;
}

// raw_chunks() with each chunk inflated (zlib, as HDF5's filter reads it): mask and bytes.
std::vector<std::string> inflated(const std::vector<std::string>& chunks, std::size_t chunk_bytes) {
  std::vector<std::string> out;
  for (const std::string& chunk : chunks) {
    const std::size_t colon = chunk.find(':');
    std::string bytes(chunk_bytes, '\0');
    uLongf size = chunk_bytes;
    const int rc =
        uncompress(reinterpret_cast<Bytef*>(bytes.data()), &size,
                   reinterpret_cast<const Bytef*>(chunk.data() + colon + 1), chunk.size() - colon - 1);
    EXPECT_EQ(rc, Z_OK);
    EXPECT_EQ(size, chunk_bytes);
    out.push_back(chunk.substr(0, colon + 1) + bytes);
  }
  return out;
}

// The same dataset written through HDF5's own filter pipeline (H5Dwrite), for comparison.
void write_through_hdf5(hid_t file, const ShardDataset& d, int deflate) {
  std::vector<hsize_t> dims = {d.length};
  dims.insert(dims.end(), d.shape.begin(), d.shape.end());
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  std::vector<hsize_t> chunk = dims;
  chunk[0] = d.chunk_rows;
  H5Pset_chunk(plist, static_cast<int>(chunk.size()), chunk.data());
  H5Pset_shuffle(plist);
  if (deflate > 0) H5Pset_deflate(plist, deflate);
  const hid_t type = d.dtype == DType::kUint8     ? H5T_NATIVE_UINT8
                     : d.dtype == DType::kFloat32 ? H5T_NATIVE_FLOAT
                     : d.dtype == DType::kInt32   ? H5T_NATIVE_INT32
                     : d.dtype == DType::kUint64  ? H5T_NATIVE_UINT64
                                                  : H5T_NATIVE_INT64;
  const hid_t dataset = H5Dcreate2(file, d.name.c_str(), type, space, H5P_DEFAULT, plist, H5P_DEFAULT);
  H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.data);
  H5Dclose(dataset);
  H5Pclose(plist);
  H5Sclose(space);
}

TEST(ShardChunks, AreTheBytesOfHdf5sOwnShuffleAndDeflateFilters) {
  const std::string dir = testing::make_temp_dir("shard_chunks");
  ColumnBuffer columns(mixed_schema());
  for (int r = 0; r < 100; ++r) {  // 100 rows in chunks of 16: an edge chunk of 4 rows
    put_row(columns, r);
    columns.end_row();
  }
  for (int deflate : {0, 1, 6}) {
    const ShardWriteOptions options{16, deflate};
    const std::string ours = dir + "/ours-" + std::to_string(deflate) + ".h5";
    const std::string theirs = dir + "/hdf5-" + std::to_string(deflate) + ".h5";
    write_shard(ours, columns, options, "test");
    const auto datasets = shard_datasets(columns, options);
    ASSERT_EQ(datasets.size(), 5u);  // 4 columns + the ragged one's offsets
    const hid_t file = H5Fcreate(theirs.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    for (const auto& d : datasets) write_through_hdf5(file, d, deflate);
    H5Fclose(file);
    for (const auto& d : datasets) {
      auto a = raw_chunks(ours, d.name), b = raw_chunks(theirs, d.name);
      EXPECT_EQ(a.size(), d.chunk_count()) << d.name;
      if (deflate == 1) {  // other compressed bytes: compare what a reader inflates
        EXPECT_NE(a, b) << d.name << ": level 1 is meant to be ISA-L's, not zlib's";
        a = inflated(a, d.chunk_rows * d.row_bytes);
        b = inflated(b, d.chunk_rows * d.row_bytes);
      }
      EXPECT_TRUE(a == b) << d.name << " at deflate " << deflate;
    }
    // And a reader gets the rows back.
    ShardReader reader(ours, columns.specs());
    std::int64_t n[2];
    reader.read(2, 97, 2, n);
    EXPECT_EQ(n[0], 97 * 1000003LL);
    EXPECT_EQ(n[1], 98 * 1000003LL);
  }
  testing::remove_tree(dir);
}

// Writes 3,000 rows over the three splits through a CorpusWriter with `threads`, shards of about
// 20 KB, some rows repeated in another split (dropped by dedup); returns the shards.
std::vector<ShardInfo> write_corpus(const std::string& dir, int threads) {
  std::filesystem::create_directories(dir);
  CorpusWriter writer(dir, "test", mixed_schema(), 20000, {16, 1}, 0, 1, true, threads);
  for (int r = 0; r < 3000; ++r) {
    const int split = r % 7 == 0 ? 2 : r % 5 == 0 ? 1 : 0;
    put_row(writer.row_buffer(split), r % 97 == 3 ? 3 : r);  // rows like row 3 in every split
    writer.commit_row(split, r % 4, static_cast<std::uint64_t>(r));
  }
  writer.finish();
  return writer.shards();
}

TEST(CorpusWriterThreads, ShardsAreByteIdenticalAtOneAndThreeThreadsAndAcrossRuns) {
  const std::string dir = testing::make_temp_dir("writer_threads");
  const auto one = write_corpus(dir + "/one", 1);
  const auto three = write_corpus(dir + "/three", 3);
  const auto again = write_corpus(dir + "/again", 3);
  ASSERT_GT(one.size(), 6u);
  ASSERT_EQ(one.size(), three.size());
  ASSERT_EQ(one.size(), again.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].file, three[i].file);
    EXPECT_EQ(one[i].split, three[i].split);
    EXPECT_EQ(one[i].samples, three[i].samples);
    EXPECT_EQ(one[i].bytes, three[i].bytes);
    EXPECT_EQ(one[i].sha256, three[i].sha256);
    EXPECT_EQ(one[i].sha256, again[i].sha256);
    EXPECT_EQ(core::sha256_file(dir + "/three/" + three[i].file), three[i].sha256);
    EXPECT_TRUE(file_bytes(dir + "/one/" + one[i].file) == file_bytes(dir + "/three/" + one[i].file));
  }
  testing::remove_tree(dir);
}

TEST(ColumnBuffer, HandsOffCompleteRowsAndKeepsCounting) {
  ColumnBuffer b(mixed_schema());
  for (int r = 0; r < 5; ++r) {
    put_row(b, r);
    b.end_row();
  }
  const std::size_t bytes = b.bytes();
  std::vector<std::vector<std::uint8_t>> storage;
  b.take_fixed_rows(storage);
  ASSERT_EQ(storage.size(), 4u);
  EXPECT_EQ(storage[0].size(), 5u * 40);  // the five rows of each fixed-width column
  EXPECT_EQ(storage[2].size(), 5u * 8);
  EXPECT_TRUE(storage[3].empty());  // a ragged column stays whole in the buffer
  std::int64_t n = 0;
  std::memcpy(&n, storage[2].data() + 4 * 8, 8);
  EXPECT_EQ(n, 4 * 1000003LL);
  EXPECT_EQ(b.rows(), 5u);
  EXPECT_EQ(b.first_row(), 5u);
  EXPECT_EQ(b.bytes(), bytes);
  EXPECT_EQ(b.data(0).size(), 0u);
  put_row(b, 5);
  EXPECT_EQ(b.current_row(0).second, 40u);
  EXPECT_THROW(b.take_fixed_rows(storage), std::logic_error);  // a row half-written
  b.abandon_row();
  put_row(b, 6);
  b.end_row();
  EXPECT_EQ(b.rows(), 6u);
  EXPECT_EQ(b.data(2).size(), 8u);
  std::memcpy(&n, b.data(2).data(), 8);
  EXPECT_EQ(n, 6 * 1000003LL);
  b.clear();
  EXPECT_EQ(b.first_row(), 0u);
  EXPECT_EQ(b.bytes(), 0u);
}

// Rows go to the shards chunk by chunk: no split's buffer ever holds a whole chunk of fixed-width
// rows, and every row reads back, in order, from the shards of its split.
TEST(CorpusWriterThreads, StreamedShardsReadBackEveryRowInOrder) {
  for (int threads : {1, 3}) {
    const std::string dir = testing::make_temp_dir("writer_stream");
    std::vector<std::vector<int>> rows_of(3);
    CorpusWriter writer(dir, "test", mixed_schema(), 20000, {16, 1}, 0, 1, false, threads);
    for (int r = 0; r < 3000; ++r) {
      const int split = r % 7 == 0 ? 2 : r % 5 == 0 ? 1 : 0;
      put_row(writer.row_buffer(split), r);
      ASSERT_TRUE(writer.commit_row(split, r % 4, static_cast<std::uint64_t>(r)));
      rows_of[split].push_back(r);
      const ColumnBuffer& b = writer.row_buffer(split);
      ASSERT_LT(b.rows() - b.first_row(), 16u) << "row " << r;
    }
    writer.finish();
    std::vector<ColumnSpec> schema = mixed_schema();
    schema.push_back({"label", DType::kInt32, {}, ""});
    schema.push_back({"flow_hash", DType::kUint64, {}, ""});
    std::vector<std::size_t> next(3, 0);
    for (const auto& shard : writer.shards()) {
      const int split = shard.split == "train" ? 0 : shard.split == "val" ? 1 : 2;
      ShardReader reader(dir + "/" + shard.file, schema);
      ASSERT_EQ(reader.rows(), shard.samples);
      EXPECT_EQ(reader.chunk_rows(), 16u);
      EXPECT_EQ(core::sha256_file(dir + "/" + shard.file), shard.sha256);
      std::vector<std::int64_t> n(reader.rows());
      std::vector<std::uint8_t> bytes(reader.rows() * 40);
      reader.read(2, 0, reader.rows(), n.data());
      reader.read(0, 0, reader.rows(), bytes.data());
      std::vector<std::uint8_t> tokens;
      std::vector<std::uint64_t> offsets;
      reader.read_ragged(3, 0, reader.rows(), tokens, offsets);
      for (std::size_t i = 0; i < reader.rows(); ++i) {
        ASSERT_LT(next[split], rows_of[split].size());
        const int r = rows_of[split][next[split]++];
        ASSERT_EQ(n[i], r * 1000003LL) << shard.file << " row " << i << " at " << threads << " threads";
        EXPECT_EQ(bytes[i * 40 + 3], static_cast<std::uint8_t>((r * 7 + 9) % 251));
        EXPECT_EQ(offsets[i + 1] - offsets[i], static_cast<std::uint64_t>(r % 5));  // pairs
      }
    }
    for (int s = 0; s < 3; ++s) EXPECT_EQ(next[s], rows_of[s].size()) << "split " << s;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {  // no temporary left
      EXPECT_EQ(entry.path().filename().string().rfind("shard-", 0), 0u) << entry.path();
    }
    testing::remove_tree(dir);
  }
}

TEST(ShardStream, AnUnfinishedShardFileIsRemoved) {
  const std::string dir = testing::make_temp_dir("shard_stream");
  const ColumnBuffer empty(mixed_schema());
  const ShardWriteOptions options{16, 1};
  const auto layout = shard_datasets(empty, options);
  const std::string file = dir + "/partial.h5";
  {
    ShardStream stream(file, layout, {0, 1, 2, -1, -1}, options, "test");
    std::vector<std::vector<std::uint8_t>> encoded(4);
    const std::vector<std::uint8_t> zeros(16 * 40, 0);
    encoded[0] = encode_rows(zeros.data(), 16, 16, 40, DType::kUint8, 1);
    encoded[1] = encode_rows(zeros.data(), 16, 16, 12, DType::kFloat32, 1);
    encoded[2] = encode_rows(zeros.data(), 16, 16, 8, DType::kInt64, 1);
    stream.append_chunk(encoded);
    EXPECT_EQ(stream.chunks_appended(), 1u);
    EXPECT_TRUE(std::filesystem::exists(file));
  }
  EXPECT_FALSE(std::filesystem::exists(file));
  testing::remove_tree(dir);
}

TEST(PrepThreads, CorpusBytesAreTheSameAtOneAndTwoThreads) {
  const std::string dir = testing::make_temp_dir("prep_threads");
  testing::CorpusSpec spec;
  spec.flows = 600;
  spec.threads = 1;
  const std::string one = testing::make_synth_corpus(dir + "/one", spec);
  spec.threads = 2;
  const std::string two = testing::make_synth_corpus(dir + "/two", spec);
  const Manifest a = read_manifest(one), b = read_manifest(two);
  ASSERT_GT(a.shards.size(), 3u);
  ASSERT_EQ(a.shards.size(), b.shards.size());
  for (std::size_t i = 0; i < a.shards.size(); ++i) {
    EXPECT_EQ(a.shards[i].file, b.shards[i].file);
    EXPECT_EQ(a.shards[i].sha256, b.shards[i].sha256) << a.shards[i].file;
  }
  EXPECT_EQ(file_bytes(one + "/manifest.json"), file_bytes(two + "/manifest.json"));
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::datasets

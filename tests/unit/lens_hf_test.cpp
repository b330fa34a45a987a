// safetensors written and read back (and refused when damaged), and Lens exported in Hugging
// Face's T5 layout: an independent T5 forward in python3-torch that reads only config.json and
// model.safetensors (with numpy) computes our logits; reading the directory back into a fresh
// model gives the same logits (round trip).
#include "models/lens/lens_hf.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/trainer/safetensors.h"
#include "core/trainer/trainer_checkpoint.h"
#include "distributed/communicator.h"
#include "distributed/tensor_parallel_state.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

TEST(Safetensors, RoundTripKeepsNamesTypesShapesAndValues) {
  const std::string dir = testing::make_temp_dir("safetensors");
  const std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"a.weight", torch::randn({3, 5})},
      {"b", torch::arange(7, torch::kLong)},
      {"c.bf16", torch::randn({4}).to(torch::kBFloat16)},
      {"empty", torch::zeros({0, 3})},
      {"scalar", torch::tensor(2.5, torch::kDouble)}};
  core::write_safetensors(dir + "/x.safetensors", tensors,
                          {{"format", "pt"}, {"note", "a \"quoted\" value"}});
  const auto back = core::read_safetensors(dir + "/x.safetensors");
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.scalar_type(), tensors[i].second.scalar_type());
    EXPECT_TRUE(back.tensors[i].second.equal(tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(back.metadata.at("note"), "a \"quoted\" value");
  std::ifstream in(dir + "/x.safetensors", std::ios::binary);
  std::uint64_t header = 0;
  in.read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ(header % 8, 0u) << "the header is padded to 8 bytes";
  testing::remove_tree(dir);
}

void expect_refused(const std::string& path, const std::string& bytes, const std::string& problem) {
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    core::read_safetensors(path);
    ADD_FAILURE() << "accepted: " << problem;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
  }
}

TEST(Safetensors, DamagedFilesAreRefusedNamingFileAndProblem) {
  const std::string dir = testing::make_temp_dir("safetensors_bad");
  const std::string path = dir + "/bad.safetensors";
  auto with_header = [](const std::string& json, const std::string& data) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
    return out + json + data;
  };
  expect_refused(path, "abc", "truncated");
  expect_refused(path, std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8) + "{}", "header length");
  expect_refused(path, with_header("{\"x\":", ""), "not JSON");
  expect_refused(path,
                 with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "1234"),
                 "do not hold");
  expect_refused(path, with_header("{\"x\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", "1234"),
                 "unknown dtype");
  expect_refused(path,
                 with_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "1234"),
                 "impossible shape");
  testing::remove_tree(dir);
}

LensConfig tiny() {
  LensConfig c;
  c.vocab = 300;  // padded to 384 at tp 1: the export holds the 300 real rows
  c.d_model = 32, c.d_kv = 8, c.d_ff = 48, c.heads = 4, c.encoder_layers = 2, c.decoder_layers = 2;
  c.segment_embedding = c.packet_embedding = false;
  return c;
}

std::vector<std::pair<std::string, torch::Tensor>> whole_tensors(LensModel& model,
                                                                 distributed::Communicator& tp) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& t : distributed::sharded_tensors(model))
    out.emplace_back(t.name, distributed::gather_full(t, tp));
  return out;
}

TEST(LensHf, ExportedDirectoryIsT5AsAnIndependentForwardReadsIt) {
  if (testing::run_command("/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null").exit_code != 0)
    GTEST_SKIP() << "python3-torch or numpy not installed";
  auto tp = distributed::make_local_communicator();
  const std::string dir = testing::make_temp_dir("lens_hf");
  for (bool tied : {false, true}) {
    auto c = tiny();
    c.tie_embeddings = tied;
    torch::manual_seed(43);
    LensModel model(c, *tp);
    LensInputs in;
    in.tokens = torch::randint(6, 300, {2, 24}, torch::kLong);
    in.padding = torch::zeros({2, 24}, torch::kBool);
    in.padding[1].narrow(0, 18, 6).fill_(true);
    const auto decoder_tokens = torch::randint(6, 300, {2, 9}, torch::kLong);
    torch::NoGradGuard no_grad;
    const auto logits = model.forward(in, decoder_tokens);
    const std::string hf = dir + (tied ? "/tied" : "/untied");
    EXPECT_GT(write_hf_t5(hf, whole_tensors(model, *tp), c, false), 10u);
    const auto inputs = core::pickle_tensors({{"in.tokens", in.tokens},
                                              {"in.padding", in.padding.to(torch::kUInt8)},
                                              {"in.decoder_tokens", decoder_tokens},
                                              {"out.logits", logits}});
    std::ofstream(hf + "/inputs.pt", std::ios::binary)
        .write(inputs.data(), static_cast<std::streamsize>(inputs.size()));
    const auto r =
        testing::run_command("/usr/bin/python3 " + testing::source_dir() +
                             "/tests/python/t5_reference.py --hf " + hf + " " + hf + "/inputs.pt 1e-4");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::printf("%s%s", tied ? "tied: " : "untied: ", r.output.c_str());
    // Round trip: the directory read back into a fresh model gives the same logits.
    LensConfig read;
    const auto tensors = read_hf_t5(hf, &read);
    EXPECT_EQ(read.vocab, 300);
    EXPECT_EQ(read.tie_embeddings, tied);
    torch::manual_seed(99);
    LensModel fresh(read, *tp);
    for (const auto& t : distributed::sharded_tensors(fresh)) {
      ASSERT_TRUE(tensors.count(t.name)) << t.name;
      ASSERT_TRUE(distributed::copy_local_shard(t, tensors.at(t.name), *tp)) << t.name;
    }
    EXPECT_TRUE(fresh.forward(in, decoder_tokens).equal(logits));
  }
  testing::remove_tree(dir);
}

TEST(LensHf, SegmentAndPacketEmbeddingsAreRefusedUnlessKept) {
  auto tp = distributed::make_local_communicator();
  auto c = tiny();
  c.segment_embedding = true;
  LensModel model(c, *tp);
  const std::string dir = testing::make_temp_dir("lens_hf_extra");
  EXPECT_THROW(write_hf_t5(dir + "/refused", whole_tensors(model, *tp), c, false), std::exception);
  EXPECT_FALSE(is_hf_directory(dir + "/refused"));
  write_hf_t5(dir + "/kept", whole_tensors(model, *tp), c, true);
  LensConfig read;
  const auto tensors = read_hf_t5(dir + "/kept", &read);
  EXPECT_TRUE(tensors.count("segment_embed.weight"));
  EXPECT_TRUE(read.segment_embedding);
  EXPECT_FALSE(read.packet_embedding);
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::models

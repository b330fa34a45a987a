// The Lens model with both extra embeddings off is exactly T5 v1.1: its logits equal those of
// a T5 forward written independently in python3-torch from the same weights (Hugging Face's
// T5 names), untied and tied. Skipped where python3-torch is not installed.
#include <gtest/gtest.h>

#include "core/trainer/trainer_checkpoint.h"
#include "distributed/communicator.h"
#include "models/lens/lens_model.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

TEST(LensModel, IsT5AsAnIndependentPythonForwardComputesIt) {
  if (testing::run_command("/usr/bin/python3 -c 'import torch' 2>/dev/null").exit_code != 0) {
    GTEST_SKIP() << "python3-torch not installed";
  }
  const std::string dir = testing::make_temp_dir("lens_reference");
  auto tp = distributed::make_local_communicator();
  LensConfig c;
  c.vocab = 300;
  c.d_model = 32, c.d_kv = 8, c.d_ff = 48, c.heads = 4, c.encoder_layers = 2, c.decoder_layers = 2;
  c.segment_embedding = c.packet_embedding = false;
  for (bool tied : {false, true}) {
    c.tie_embeddings = tied;
    torch::manual_seed(41);
    LensModel model(c, *tp);
    LensInputs in;
    in.tokens = torch::randint(6, 300, {2, 40}, torch::kLong);  // 40 tokens: distances in the log buckets
    in.padding = torch::zeros({2, 40}, torch::kBool);
    in.padding[1].narrow(0, 30, 10).fill_(true);
    const auto decoder_tokens = torch::randint(6, 300, {2, 12}, torch::kLong);
    torch::NoGradGuard no_grad;
    const auto logits = model.forward(in, decoder_tokens);
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& p : model.named_parameters()) tensors.emplace_back(p.key(), p.value());
    tensors.emplace_back("in.tokens", in.tokens);
    tensors.emplace_back("in.padding", in.padding.to(torch::kUInt8));
    tensors.emplace_back("in.decoder_tokens", decoder_tokens);
    tensors.emplace_back("out.logits", logits);
    const std::string file = dir + "/t5.pt";
    const auto bytes = core::pickle_tensors(tensors);
    std::FILE* f = std::fopen(file.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    const auto r =
        testing::run_command("/usr/bin/python3 " + testing::source_dir() + "/tests/python/t5_reference.py " +
                             file + " 32 4 8 300 " + (tied ? "1" : "0") + " 1e-4");
    EXPECT_EQ(r.exit_code, 0) << (tied ? "tied: " : "untied: ") << r.output;
    std::printf("%s%s", tied ? "tied: " : "untied: ", r.output.c_str());
  }
  testing::remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::models

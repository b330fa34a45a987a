// Lens's incremental decoding: the key/value cache gives the logits of a full recomputation at
// every position, greedy generation is the argmax chain of full recomputations, and sampling is
// a function of its seed.
#include "models/lens/lens_generate.h"

#include <gtest/gtest.h>

#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/communicator.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;

struct Micro {
  std::unique_ptr<distributed::Communicator> tp = distributed::make_local_communicator();
  LensConfig config;
  std::unique_ptr<LensModel> model;
  LensInputs in;
  Micro() {
    config.vocab = 300;
    config.d_model = 32, config.d_kv = 8, config.d_ff = 48, config.heads = 4;
    config.encoder_layers = 2, config.decoder_layers = 3;
    torch::manual_seed(17);
    model = std::make_unique<LensModel>(config, *tp);
    model->eval();
    in.tokens = torch::randint(6, 300, {3, 20}, torch::kLong);
    in.segment = torch::randint(0, 3, {3, 20}, torch::kLong);
    in.packet = torch::randint(0, 4, {3, 20}, torch::kLong);
    in.padding = torch::zeros({3, 20}, torch::kBool);
    in.padding[2].narrow(0, 12, 8).fill_(true);
  }
};

TEST(LensGenerate, CachedStepsGiveTheLogitsOfAFullRecomputation) {
  Micro s;
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(6, 300, {3, 10}, torch::kLong);
  tokens.select(1, 0).fill_(vocab::kPad);
  const auto full = s.model->forward(s.in, tokens);
  const auto memory = s.model->encode(s.in);
  DecoderCache cache;
  for (std::int64_t i = 0; i < tokens.size(1); ++i) {
    const auto step = decode_step(*s.model, memory, s.in.padding, tokens.narrow(1, i, 1), cache);
    const auto expected = full.narrow(1, i, 1);
    const double difference = (step - expected).narrow(-1, 0, 300).abs().max().item<double>();
    EXPECT_LT(difference, 1e-5) << "position " << i;
  }
  EXPECT_EQ(cache.length, 10);
  EXPECT_EQ(cache.self.front().k.size(2), 10) << "one cached key per decoded position";
  EXPECT_EQ(cache.cross.front().k.size(2), 20) << "the encoder's keys, computed once";
}

TEST(LensGenerate, GreedyIsTheArgmaxChainOfFullRecomputations) {
  Micro s;
  GenerateOptions options;
  options.max_tokens = 8;
  const auto generated = generate(*s.model, s.in, options);
  torch::NoGradGuard no_grad;
  auto prefix = torch::full({3, 1}, vocab::kPad, torch::kLong);
  for (std::int64_t i = 0; i < generated.size(1); ++i) {
    const auto logits = s.model->forward(s.in, prefix).select(1, i).narrow(-1, 0, 300);
    const auto best = logits.argmax(-1);
    for (std::int64_t r = 0; r < 3; ++r) {
      const auto got = generated[r][i].item<std::int64_t>();
      if (i > 0 && (generated[r].narrow(0, 0, i) == vocab::kEos).any().item<bool>()) {
        EXPECT_EQ(got, vocab::kPad) << "after </s>";
      } else {
        EXPECT_EQ(got, best[r].item<std::int64_t>()) << "row " << r << " position " << i;
      }
    }
    prefix = torch::cat({prefix, best.unsqueeze(1)}, 1);
  }
}

TEST(LensGenerate, SamplingIsAFunctionOfItsSeed) {
  Micro s;
  GenerateOptions options;
  options.max_tokens = 12;
  options.top_k = 50;
  options.temperature = 5.0;  // a flat distribution: two seeds would agree by chance very rarely
  options.seed = 1;
  const auto a = generate(*s.model, s.in, options), b = generate(*s.model, s.in, options);
  options.seed = 2;
  const auto c = generate(*s.model, s.in, options);
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.sizes() == c.sizes() && a.equal(c));
  EXPECT_TRUE((a < 300).all().item<bool>()) << "padding ids of the vocabulary are never generated";
}

}  // namespace
}  // namespace trafficfm::models

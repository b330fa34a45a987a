// Lens's dropout (models/lens/t5_dropout.h): the rate and the 1/(1-p) scale, masks that are a
// function of the samples' keys and of the site, a slice drawn at full width equal to that slice
// of the full draw (what makes tp 2 drop what tp 1 drops), and a model that drops only in
// training: in eval mode it is the dropout-free model.
#include <gtest/gtest.h>

#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/communicator.h"
#include "models/lens/lens_model.h"
#include "models/lens/t5_dropout.h"

namespace trafficfm::models {
namespace {

TEST(T5Dropout, DropsAtItsRateAndScalesWhatItKeeps) {
  T5Dropout dropout(0.1);
  dropout.start({11, 12, 13, 14});
  const auto out = dropout.apply(torch::ones({4, 20000}), true);
  const double dropped = (out == 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, 0.1, 0.01);
  EXPECT_TRUE(out.masked_select(out != 0).allclose(torch::full({1}, 1.0 / 0.9)));
  EXPECT_TRUE(torch::equal(dropout.apply(torch::ones({4, 20000}), false), torch::ones({4, 20000})));
  EXPECT_TRUE(torch::equal(T5Dropout(0.0).apply(torch::ones({2, 5}), true), torch::ones({2, 5})));
  EXPECT_THROW(T5Dropout(1.0), std::invalid_argument);
  T5Dropout unstarted(0.1);
  EXPECT_THROW(unstarted.apply(torch::ones({2, 5}), true), std::logic_error);
}

TEST(T5Dropout, MasksFollowTheKeysAndTheSiteAndASliceIsTheFullDrawsSlice) {
  T5Dropout a(0.3), b(0.3);
  const auto x = torch::ones({3, 6, 8});
  a.start({1, 2, 3});
  const auto first = a.apply(x, true), second = a.apply(x, true);
  EXPECT_FALSE(torch::equal(first, second)) << "two sites draw two masks";
  a.start({1, 2, 3});
  EXPECT_TRUE(torch::equal(a.apply(x, true), first)) << "start() numbers the sites again";
  b.start({1, 2, 4});
  const auto other = b.apply(x, true);
  EXPECT_TRUE(torch::equal(other[0], first[0]) && torch::equal(other[1], first[1]));
  EXPECT_FALSE(torch::equal(other[2], first[2])) << "a sample's mask is its own";
  // Columns [4, 8) of a width-8 draw, as tp rank 1 of 2 draws them.
  b.start({1, 2, 3});
  const auto slice = b.apply(torch::ones({3, 6, 4}), true, -1, 8, 4);
  EXPECT_TRUE(torch::equal(slice, first.narrow(-1, 4, 4)));
}

TEST(T5Dropout, ALensModelDropsOnlyInTraining) {
  auto alone = distributed::make_local_communicator();
  LensConfig c;
  c.vocab = datasets::lens_vocab::kSize;
  c.d_model = 32;
  c.d_kv = 8;
  c.heads = 4;
  c.d_ff = 64;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  torch::manual_seed(5);
  LensModel plain(c, *alone);
  c.dropout = 0.1;
  torch::manual_seed(5);
  LensModel dropping(c, *alone);
  LensInputs in;
  in.tokens = torch::randint(6, 1000, {3, 12});
  in.segment = torch::randint(0, 3, {3, 12});
  in.packet = torch::randint(0, 4, {3, 12});
  in.padding = torch::zeros({3, 12}, torch::kBool);
  const auto decoder_tokens = torch::randint(6, 1000, {3, 5});
  torch::NoGradGuard no_grad;
  dropping.eval();
  plain.eval();
  EXPECT_TRUE(torch::equal(dropping.forward(in, decoder_tokens), plain.forward(in, decoder_tokens)));
  dropping.train();
  dropping.dropout->start(7, 0, {1, 2, 3});
  const auto a = dropping.forward(in, decoder_tokens);
  dropping.dropout->start(7, 0, {1, 2, 3});
  const auto b = dropping.forward(in, decoder_tokens);
  EXPECT_TRUE(torch::equal(a, b)) << "the same samples draw the same masks";
  EXPECT_FALSE(torch::allclose(a, plain.forward(in, decoder_tokens)));
}

}  // namespace
}  // namespace trafficfm::models

// T5 layers and the Lens encoder-decoder at tp 2 (on 2 ranks, and as two tp pairs on 4) against
// the unsplit ones that every rank builds alone: outputs, loss and gradients to 1e-5. The unsplit attention
// is also checked against T5's formula written out: softmax(q kᵀ + bias + mask) v, with no 1/sqrt(d).
#include <gtest/gtest.h>

#include <limits>

#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/vocab_parallel_loss.h"
#include "models/lens/lens_model.h"
#include "models/lens/t5_layers.h"
#include "tests/mpi/tensor_parallel_testing.h"

namespace trafficfm::models {
namespace {

using testing::expect_close;
testing::TensorParallelSetup& setup() { return testing::tensor_parallel_setup(); }

// Copies the unsplit module's parameters into the split one (each takes its slice).
void load(torch::nn::Module& split, torch::nn::Module& full) {
  auto full_params = full.named_parameters();
  torch::NoGradGuard no_grad;
  for (auto& p : split.named_parameters())
    p.value().copy_(testing::slice_like(full_params[p.key()], p.value(), setup().grid->tp().rank()));
}

void expect_grads_match(torch::nn::Module& split, torch::nn::Module& full) {
  testing::expect_grads_match(split, full, setup().grid->tp().rank());
}

// An attention layer and its stack's bias table as one module, for loading and gradients.
struct BiasedAttention : torch::nn::Module {
  BiasedAttention(bool bidirectional, distributed::Communicator& tp) {
    attention = register_module("attention", std::make_shared<T5Attention>(16, 4, 8, tp));
    bias =
        register_module("bias", std::make_shared<RelativePositionBias>(4, bidirectional, tp, 32, 128, 0.5));
  }
  // Self-attention with padding (and causal) masks, or cross-attention to `memory`.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& memory, const torch::Tensor& padding,
                        bool causal) {
    const auto keys = memory.defined() ? memory.size(1) : x.size(1);
    if (memory.defined()) return attention->forward(x, memory, {});  // cross-attention: no position bias
    const auto mask = attention_mask(padding, x.size(1), causal, torch::kFloat);
    return attention->forward(x, memory, bias->bias(x.size(1), keys, x.device()) + mask);
  }
  std::shared_ptr<T5Attention> attention;
  std::shared_ptr<RelativePositionBias> bias;
};

TEST(T5Layers, AttentionSplitByHeadsEqualsTheUnsplitLayer) {
  auto& s = setup();
  torch::manual_seed(11);
  const auto x = torch::randn({3, 6, 16}), memory = torch::randn({3, 9, 16}),
             upstream = torch::randn({3, 6, 16});
  auto padding = torch::zeros({3, 6}, torch::kBool);
  padding[1][5] = true;                   // one padded key
  for (int kind = 0; kind < 3; ++kind) {  // encoder self, decoder causal self, cross
    const bool causal = kind == 1;
    const auto mem = kind == 2 ? memory : torch::Tensor();
    const auto pad = kind == 2 ? torch::Tensor() : padding;
    torch::manual_seed(12);
    BiasedAttention full(kind == 0, *s.alone), split(kind == 0, s.grid->tp());
    load(split, full);
    const auto y_full = full.forward(x, mem, pad, causal), y_split = split.forward(x, mem, pad, causal);
    expect_close(y_split, y_full, "attention output, kind " + std::to_string(kind));
    (y_full * upstream).sum().backward();
    (y_split * upstream).sum().backward();
    if (kind == 2) {
      expect_grads_match(*split.attention, *full.attention);
    } else {
      expect_grads_match(split, full);
    }
    if (kind == 1) {  // T5's formula, by hand, on the unsplit layer
      torch::NoGradGuard no_grad;
      auto& a = *full.attention;
      auto heads = [](const torch::Tensor& t) { return t.view({3, -1, 4, 8}).transpose(1, 2); };
      const auto q = heads(torch::matmul(x, a.q->weight.t())), k = heads(torch::matmul(x, a.k->weight.t()));
      const auto v = heads(torch::matmul(x, a.v->weight.t()));
      auto scores = torch::matmul(q, k.transpose(-1, -2)) + full.bias->bias(6, 6, torch::kCPU);
      scores = scores.masked_fill(torch::ones({6, 6}, torch::kBool).triu(1), -1e30);
      scores.select(0, 1).narrow(-1, 5, 1).fill_(-1e30);
      const auto context = torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2).reshape({3, 6, 32});
      expect_close(y_full.detach(), torch::matmul(context, a.o->weight.t()), "T5 attention formula");
    }
  }
}

TEST(T5Layers, GatedGeluFfnAndRmsNorm) {
  auto& s = setup();
  torch::manual_seed(21);
  const auto x = torch::randn({4, 5, 16}), upstream = torch::randn({4, 5, 16});
  torch::manual_seed(22);
  GatedGeluFfn full(16, 24, *s.alone), split(16, 24, s.grid->tp());
  load(split, full);
  const auto y_full = full.forward(x), y_split = split.forward(x);
  expect_close(y_split, y_full, "ffn output");
  {
    torch::NoGradGuard no_grad;
    const auto h = torch::gelu(torch::matmul(x, full.wi_0->weight.t()), "tanh") *
                   torch::matmul(x, full.wi_1->weight.t());
    expect_close(y_full.detach(), torch::matmul(h, full.wo->weight.t()), "gated-gelu formula");
  }
  (y_full * upstream).sum().backward();
  (y_split * upstream).sum().backward();
  expect_grads_match(split, full);

  T5LayerNorm norm(16);
  torch::NoGradGuard no_grad;
  norm.weight.copy_(torch::linspace(0.5, 2.0, 16));
  const auto want = x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6) * norm.weight;  // no mean, no bias
  expect_close(norm.forward(x), want, "RMSNorm");
}

TEST(LensModel, TensorParallelModelEqualsTheUnsplitOne) {
  auto& s = setup();
  auto& tp = s.grid->tp();
  LensConfig c;
  c.vocab = 500;  // padded to 512 at tp 1 and at tp 2
  c.d_model = 16, c.d_kv = 4, c.d_ff = 24, c.heads = 4, c.encoder_layers = 2, c.decoder_layers = 2;
  for (bool tied : {false, true}) {
    c.tie_embeddings = tied;
    torch::manual_seed(31);
    LensModel full(c, *s.alone);
    torch::manual_seed(31);
    LensModel split(c, tp);
    load(split, full);
    // HF T5's names, one relative bias table per stack.
    const auto names = full.named_parameters();
    EXPECT_TRUE(names.contains("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
    EXPECT_TRUE(names.contains("decoder.block.1.layer.1.EncDecAttention.k.weight"));
    EXPECT_TRUE(names.contains("decoder.block.0.layer.2.DenseReluDense.wi_1.weight"));
    EXPECT_FALSE(names.contains("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"));
    EXPECT_EQ(names.contains("lm_head.weight"), !tied);

    torch::manual_seed(32);
    LensInputs in;
    in.tokens = torch::randint(6, 500, {3, 10}, torch::kLong);
    in.segment = torch::randint(0, 3, {3, 10}, torch::kLong);
    in.packet = torch::randint(0, 5, {3, 10}, torch::kLong);
    in.padding = torch::zeros({3, 10}, torch::kBool);
    in.padding[2].narrow(0, 7, 3).fill_(true);
    const auto decoder_tokens = torch::randint(6, 500, {3, 6}, torch::kLong);
    const auto targets = torch::randint(6, 500, {3, 6}, torch::kLong);
    const auto logits_full = full.forward(in, decoder_tokens),
               logits_split = split.forward(in, decoder_tokens);
    ASSERT_EQ(logits_full.size(-1), 512);
    ASSERT_EQ(logits_split.size(-1), 512 / tp.size());
    expect_close(logits_split, testing::slice_like(logits_full, logits_split, tp.rank()), "logits");
    EXPECT_TRUE((logits_full.narrow(-1, 500, 12) == std::numeric_limits<float>::lowest()).all().item<bool>());
    const auto loss_full =
        torch::nn::functional::cross_entropy(logits_full.reshape({-1, 512}), targets.reshape(-1));
    const auto loss_split = distributed::vocab_parallel_cross_entropy(logits_split, targets, tp);
    expect_close(loss_split, loss_full, "loss");
    loss_full.backward();
    loss_split.backward();
    expect_grads_match(split, full);
  }
}

}  // namespace
}  // namespace trafficfm::models

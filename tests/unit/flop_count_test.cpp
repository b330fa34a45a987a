// Each model's analytic training FLOPs (what the trainer accumulates into metrics.jsonl and a
// scaling-law sweep fits against) equal the FLOPs of the matrix products one training step
// really executes, counted by a RecordFunction observer on every ATen matmul and convolution,
// forward and backward (issue 20: within 1%).
#include <ATen/record_function.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "core/rng.h"
#include "core/trainer/parameter_count.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "datasets/graph/graph_encoder.h"
#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "models/graph/graph_task.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_task.h"
#include "models/mmae/mmae_inputs.h"
#include "models/mmae/mmae_task.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/graph_batch.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

// The shapes of an op's tensor inputs, taken in the start callback: LibTorch hands a callback the
// inputs only there (in its end callback they are gone), the outputs only at the end.
struct InputShapes : at::ObserverContext {
  std::vector<std::vector<std::int64_t>> shapes;  // empty for an input that is not a tensor
};

std::unique_ptr<at::ObserverContext> record_input_shapes(const at::RecordFunction& fn) {
  auto ctx = std::make_unique<InputShapes>();
  for (const auto& v : fn.inputs()) {
    ctx->shapes.push_back(v.isTensor() && v.toTensor().defined() ? v.toTensor().sizes().vec()
                                                                 : std::vector<std::int64_t>{});
  }
  return ctx;
}

// FLOPs (2 per multiply-add) of the products each ATen op computes, and the adds of scatter-adds
// (graph message passing). Composite ops (matmul, linear, einsum, conv1d) are not counted: they
// dispatch to the leaf ops below.
double product_flops(const at::RecordFunction& fn, const InputShapes& inputs) {
  const char* name = fn.name();
  auto shape = [&](std::size_t i) -> c10::IntArrayRef { return inputs.shapes.at(i); };
  auto numel = [](c10::IntArrayRef s) {
    double n = 1;
    for (auto d : s) n *= static_cast<double>(d);
    return n;
  };
  if (!std::strcmp(name, "aten::mm")) return 2.0 * numel(shape(0)) * static_cast<double>(shape(1)[1]);
  if (!std::strcmp(name, "aten::addmm")) return 2.0 * numel(shape(1)) * static_cast<double>(shape(2)[1]);
  if (!std::strcmp(name, "aten::bmm")) return 2.0 * numel(shape(0)) * static_cast<double>(shape(1)[2]);
  if (!std::strcmp(name, "aten::baddbmm")) return 2.0 * numel(shape(1)) * static_cast<double>(shape(2)[2]);
  if (!std::strcmp(name, "aten::mv") || !std::strcmp(name, "aten::addmv")) {
    return 2.0 * numel(shape(name[5] == 'a' ? 1 : 0));
  }
  // Convolutions: per output element, a dot product over in_channels / groups x the kernel.
  if (!std::strcmp(name, "aten::convolution")) {
    const auto weight = shape(1);
    return 2.0 * numel(fn.outputs()[0].toTensor().sizes()) * numel(weight) / static_cast<double>(weight[0]);
  }
  if (!std::strcmp(name, "aten::convolution_backward")) {
    const auto weight = shape(2);
    const double one = 2.0 * numel(shape(0)) * numel(weight) / static_cast<double>(weight[0]);
    // Outputs (grad_input, grad_weight, grad_bias): undefined where not asked for.
    const auto& out = fn.outputs();
    auto computed = [&](std::size_t i) {
      return out.size() > i && out[i].isTensor() && out[i].toTensor().defined() ? 1.0 : 0.0;
    };
    return one * (computed(0) + computed(1));
  }
  // Message passing's scatter-adds (forward aggregation, backward of a gather): one add per
  // element of the source.
  if (!std::strcmp(name, "aten::index_add") || !std::strcmp(name, "aten::index_add_")) return numel(shape(3));
  // LibTorch 2.x's fused CPU attention: Q K^T and P V forward, twice that backward.
  if (!std::strcmp(name, "aten::_scaled_dot_product_flash_attention_for_cpu"))
    return 4.0 * numel(shape(0)) * static_cast<double>(shape(1)[2]);
  if (!std::strcmp(name, "aten::_scaled_dot_product_flash_attention_for_cpu_backward"))
    return 8.0 * numel(shape(1)) * static_cast<double>(shape(2)[2]);
  return 0.0;
}

std::mutex counted_mutex;
double counted = 0;

// Counts every product computed between construction and destruction, on every thread.
class ProductFlopCounter {
 public:
  ProductFlopCounter() {
    counted = 0;
    handle_ = at::addGlobalCallback(
        at::RecordFunctionCallback(record_input_shapes,
                                   [](const at::RecordFunction& fn, at::ObserverContext* ctx) {
                                     if (ctx == nullptr) return;
                                     const double flops =
                                         product_flops(fn, *static_cast<const InputShapes*>(ctx));
                                     if (flops == 0) return;
                                     std::lock_guard<std::mutex> lock(counted_mutex);
                                     counted += flops;
                                   })
            .needsInputs(true)
            .needsOutputs(true)
            .scopes({at::RecordScope::FUNCTION}));
  }
  ~ProductFlopCounter() { at::removeCallback(handle_); }
  double flops() const {
    std::lock_guard<std::mutex> lock(counted_mutex);
    return counted;
  }

 private:
  at::CallbackHandle handle_;
};

// One training step's forward and backward of `task` on `batch`, counted.
double executed_step_flops(core::Task& task, const datasets::Batch& batch) {
  task.model().train();
  ProductFlopCounter counter;
  auto terms = task.losses(batch);
  terms.at("loss").backward();
  return counter.flops();
}

datasets::Batch first_batch(const std::string& corpus, std::vector<std::string> columns, std::size_t rows) {
  datasets::LoaderOptions lo;
  lo.corpus = corpus;
  lo.batch_size = rows;
  lo.columns = std::move(columns);
  datasets::Loader loader(lo);
  return loader.next();
}

// Lens of width 32 and 4 heads of d_kv, d_ff, `layers` encoder and decoder blocks.
LensSettings lens_settings(std::int64_t d_kv, std::int64_t d_ff, std::int64_t layers) {
  LensSettings s;
  s.model.vocab = datasets::lens_vocab::kSize;
  s.model.d_model = 32;
  s.model.d_kv = d_kv;
  s.model.heads = 4;
  s.model.d_ff = d_ff;
  s.model.encoder_layers = s.model.decoder_layers = layers;
  return s;
}

TEST(FlopAccounting, CounterSeesForwardAndBackwardOfAMatmul) {
  // [8, 16] x [16, 4]: 1,024 FLOPs forward; backward, both inputs need a gradient: 2,048 more.
  auto a = torch::randn({8, 16}, torch::requires_grad());
  auto b = torch::randn({16, 4}, torch::requires_grad());
  ProductFlopCounter counter;
  torch::matmul(a, b).sum().backward();
  EXPECT_DOUBLE_EQ(counter.flops(), 3 * 1024.0);
}

TEST(FlopAccounting, LensStepEqualsItsAnalyticCount) {
  testing::CorpusSpec spec;
  spec.flows = 60;
  spec.encoder = "lens";
  spec.max_tokens = 96;
  const auto dir = testing::make_temp_dir("flops_lens");
  const auto corpus = testing::make_synth_corpus(dir, spec);
  auto world = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*world, 1);
  // Wide layers, so that the LM head over 65k tokens is not most of the count; and MSP off
  // (no decoder, no head) to check the encoder's share alone.
  LensSettings s = lens_settings(64, 2048, 2);
  const auto batch = first_batch(corpus, lens_columns(), 8);
  for (const bool msp : {true, false}) {
    s.objective.msp = msp;
    LensTask task(s, grid, 5, torch::kCPU);
    const double executed = executed_step_flops(task, batch);
    const double analytic = task.batch_flops(batch);
    std::printf("lens, msp %d: analytic / executed FLOPs = %.5f\n", msp ? 1 : 0, analytic / executed);
    EXPECT_NEAR(analytic / executed, 1.0, 0.01)
        << "msp " << msp << ": analytic " << analytic << ", executed " << executed;
  }
  testing::remove_tree(dir);
}

TEST(FlopAccounting, MmaeStepEqualsItsAnalyticCount) {
  testing::CorpusSpec spec;
  spec.flows = 60;
  const auto dir = testing::make_temp_dir("flops_mmae");
  const auto corpus = testing::make_synth_corpus(dir, spec);
  auto world = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*world, 1);
  MmaeConfig c;
  c.dim = 32;
  c.depth = 2;
  c.heads = 4;
  c.decoder_dim = 16;
  c.decoder_depth = 1;
  c.decoder_heads = 4;
  c.rank_pairs = 50;
  MmaeTask task(c, grid, 5, torch::kCPU);
  const auto batch = first_batch(corpus, mmae_columns(), 8);
  task.begin_step(0, 10);
  const double executed = executed_step_flops(task, batch);
  const double analytic = task.batch_flops(batch);
  std::printf("mmae: analytic / executed FLOPs = %.5f\n", analytic / executed);
  EXPECT_NEAR(analytic / executed, 1.0, 0.01) << "analytic " << analytic << ", executed " << executed;
  testing::remove_tree(dir);
}

TEST(FlopAccounting, GraphStepEqualsItsAnalyticCount) {
  std::vector<datasets::GraphFlow> flows;
  std::uint64_t state = 7;
  for (int i = 0; i < 300; ++i) {
    const int src = 1 + static_cast<int>(core::splitmix64(state) % 20),
              dst = 1 + static_cast<int>(core::splitmix64(state) % 20);
    flows.push_back(testing::random_flow(
        10.0 * i / 300.0, static_cast<double>(core::splitmix64(state) % 20) * 0.1, src, dst, state));
  }
  const auto batch = testing::graph_batch(datasets::build_flow_graphs(flows, {}), flows);
  GraphConfig config;
  config.hidden = 16;
  GraphLinkTask task(config, "{}", 0, torch::kCPU);
  const double executed = executed_step_flops(task, batch);
  const double analytic = task.batch_flops(batch);
  std::printf("graph: analytic / executed FLOPs = %.5f\n", analytic / executed);
  EXPECT_NEAR(analytic / executed, 1.0, 0.01) << "analytic " << analytic << ", executed " << executed;
}

TEST(ParameterCount, TotalAndNonEmbeddingOfLens) {
  auto world = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*world, 1);
  LensSettings s = lens_settings(8, 64, 1);
  s.objective.pop = s.objective.htp = false;
  s.model.segment_embedding = s.model.packet_embedding = false;
  LensTask task(s, grid, 5, torch::kCPU);
  const auto count = core::count_parameters(task, 1);
  // Embedding: the real vocabulary's rows (not the padding to 128) and one bias table per stack.
  const std::int64_t vocab = datasets::lens_vocab::kSize, d = 32, inner = 32, ff = 64;
  const std::int64_t embedding = vocab * d + 2 * 32 * 4;
  const std::int64_t encoder = 4 * d * inner + 3 * d * ff + 2 * d + d;  // attention, FFN, 2 norms, final
  const std::int64_t decoder = 8 * d * inner + 3 * d * ff + 3 * d + d;  // self, cross, FFN, 3 norms, final
  const std::int64_t head = vocab * d;
  EXPECT_EQ(count.total, embedding + encoder + decoder + head);
  EXPECT_EQ(count.non_embedding, encoder + decoder + head);
}

}  // namespace
}  // namespace trafficfm::models

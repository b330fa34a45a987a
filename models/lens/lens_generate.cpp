#include "models/lens/lens_generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>
#include <optional>

#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/tensor_parallel_ops.h"
#include "models/lens/header_grammar.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

torch::Tensor decode_step(LensModel& model, const torch::Tensor& memory, const torch::Tensor& memory_padding,
                          const torch::Tensor& tokens, DecoderCache& cache) {
  auto& stack = *model.decoder;
  const std::size_t blocks = stack.blocks.size();
  if (cache.self.empty()) {
    cache.self.resize(blocks);
    cache.cross.resize(blocks);
  }
  const std::int64_t position = cache.length;
  auto h = model.shared->forward(tokens);
  // The new query's row of the stack's causal position bias: keys 0..position.
  const auto bias = stack.blocks.front()
                        ->relative_bias->bias(position + 1, position + 1, h.device())
                        .narrow(2, position, 1);
  const auto cross_mask = attention_mask(memory_padding, 1, false, h.scalar_type());
  for (std::size_t i = 0; i < blocks; ++i) {
    T5Block& block = *stack.blocks[i];
    h = h + block.self_attention->forward_cached(block.self_norm->forward(h), {}, bias, cache.self[i]);
    h = h + block.cross_attention->forward_cached(block.cross_norm->forward(h), memory, cross_mask,
                                                  cache.cross[i]);
    h = h + block.ffn->forward(block.ffn_norm->forward(h));
  }
  ++cache.length;
  return model.project(stack.final_layer_norm->forward(h));
}

torch::Tensor generate(LensModel& model, const LensInputs& in, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  const auto memory = model.encode(in);
  const auto batch = in.tokens.size(0);
  const auto long_options = torch::TensorOptions(torch::kLong).device(in.tokens.device());
  auto next = torch::full({batch, 1}, vocab::kPad, long_options);  // T5's decoder start
  auto done = torch::zeros({batch}, torch::TensorOptions(torch::kBool).device(in.tokens.device()));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  DecoderCache cache;
  std::optional<HeaderGrammar> grammar;
  if (options.constrain_header) grammar.emplace(static_cast<std::size_t>(batch), model.config.vocab);
  std::vector<torch::Tensor> out;
  for (std::int64_t step = 0; step < options.max_tokens; ++step) {
    const auto split = decode_step(model, memory, in.padding, next, cache).select(1, 0);  // [batch, V / tp]
    auto logits =
        distributed::gather_from_tp(split, model.tp).narrow(-1, 0, model.config.vocab).to(torch::kFloat);
    if (grammar) {
      logits = logits.masked_fill(grammar->allowed().to(logits.device()).logical_not(),
                                  -std::numeric_limits<float>::infinity());
    }
    torch::Tensor token;
    if (options.top_k <= 0) {
      token = logits.argmax(-1);
    } else {
      const auto [values, ids] = logits.topk(std::min<std::int64_t>(options.top_k, logits.size(-1)), -1);
      const auto probs = torch::softmax(values / std::max(options.temperature, 1e-6), -1).to(torch::kCPU);
      const auto pick = torch::multinomial(probs, 1, false, generator).to(ids.device());
      token = ids.gather(-1, pick).squeeze(-1);
    }
    token = token.masked_fill(done, vocab::kPad);
    if (grammar) grammar->advance(token);
    out.push_back(token);
    done = done.logical_or(token == vocab::kEos);
    if (done.all().item<bool>()) break;
    next = token.unsqueeze(1);
  }
  return torch::stack(out, 1);
}

}  // namespace trafficfm::models

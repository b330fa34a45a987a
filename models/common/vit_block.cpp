#include "models/common/vit_block.h"

namespace trafficfm::models {

VitBlock::VitBlock(std::int64_t dim, std::int64_t heads, std::int64_t mlp_dim,
                   distributed::Communicator& tp) {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  attention =
      register_module("attention", std::make_shared<distributed::ParallelSelfAttention>(dim, heads, tp));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  fc1 = register_module("fc1",
                        std::make_shared<distributed::ColumnParallelLinear>(dim, mlp_dim, tp, true, false));
  fc2 =
      register_module("fc2", std::make_shared<distributed::RowParallelLinear>(mlp_dim, dim, tp, true, true));
}

torch::Tensor VitBlock::forward(const torch::Tensor& x, const torch::Tensor& keep,
                                const torch::Tensor& bias) {
  auto a = attention->forward(ln1->forward(x), bias);
  if (keep.defined()) a = a * keep.select(1, 0).view({-1, 1, 1});
  auto h = x + a;
  auto m = fc2->forward(torch::gelu(fc1->forward(ln2->forward(h))));
  if (keep.defined()) m = m * keep.select(1, 1).view({-1, 1, 1});
  return h + m;
}

std::vector<std::shared_ptr<VitBlock>> register_vit_blocks(torch::nn::Module& owner, std::int64_t count,
                                                           std::int64_t dim, std::int64_t heads,
                                                           std::int64_t mlp_dim,
                                                           distributed::Communicator& tp) {
  auto list = owner.register_module("blocks", torch::nn::ModuleList());
  std::vector<std::shared_ptr<VitBlock>> blocks;
  for (std::int64_t b = 0; b < count; ++b) {
    blocks.push_back(std::make_shared<VitBlock>(dim, heads, mlp_dim, tp));
    list->push_back(blocks.back());
  }
  return blocks;
}

double vit_block_flops(std::int64_t dim, std::int64_t mlp_dim, std::int64_t tokens) {
  const double d = static_cast<double>(dim), t = static_cast<double>(tokens);
  return 2.0 * t * (4.0 * d * d + 2.0 * d * static_cast<double>(mlp_dim)) + 4.0 * t * t * d;
}

}  // namespace trafficfm::models

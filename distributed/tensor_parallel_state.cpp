#include "distributed/tensor_parallel_state.h"

#include <map>
#include <stdexcept>

#include "distributed/tensor_parallel_layers.h"

namespace trafficfm::distributed {

std::vector<ShardedTensor> sharded_tensors(torch::nn::Module& model, const std::string& prefix) {
  std::map<const void*, int> split;               // TensorImpl -> dim
  std::map<const void*, std::int64_t> real_rows;  // TensorImpl -> rows before the padding
  std::vector<torch::nn::Module*> modules = {&model};
  for (const auto& m : model.modules(/*include_self=*/false)) modules.push_back(m.get());
  for (torch::nn::Module* m : modules) {
    if (auto* c = dynamic_cast<ColumnParallelLinear*>(m); c && c->real_rows >= 0)
      real_rows[c->weight.unsafeGetTensorImpl()] = c->real_rows;
    if (auto* e = dynamic_cast<VocabParallelEmbedding*>(m); e && e->real_rows >= 0)
      real_rows[e->weight.unsafeGetTensorImpl()] = e->real_rows;
    if (auto* c = dynamic_cast<ColumnParallelLinear*>(m); c && c->tp.size() > 1) {
      split[c->weight.unsafeGetTensorImpl()] = 0;
      if (c->bias.defined()) split[c->bias.unsafeGetTensorImpl()] = 0;
    } else if (auto* r = dynamic_cast<RowParallelLinear*>(m); r && r->tp.size() > 1) {
      split[r->weight.unsafeGetTensorImpl()] = 1;
    } else if (auto* e = dynamic_cast<VocabParallelEmbedding*>(m); e && e->tp.size() > 1) {
      split[e->weight.unsafeGetTensorImpl()] = 0;
    } else if (auto* h = dynamic_cast<HeadParallelTable*>(m); h && h->tp.size() > 1) {
      split[h->weight.unsafeGetTensorImpl()] = 1;
    }
  }
  std::vector<ShardedTensor> out;
  for (const auto& p : model.named_parameters()) {
    const auto it = split.find(p.value().unsafeGetTensorImpl());
    const auto rows = real_rows.find(p.value().unsafeGetTensorImpl());
    out.push_back({prefix + p.key(), p.value(), it == split.end() ? -1 : it->second, true,
                   rows == real_rows.end() ? -1 : rows->second});
  }
  for (const auto& b : model.named_buffers()) out.push_back({prefix + b.key(), b.value(), -1, false});
  return out;
}

torch::Tensor gather_full(const torch::Tensor& shard, int split_dim, Communicator& tp) {
  if (split_dim < 0 || tp.size() == 1) return shard.detach().clone();
  // all_gather concatenates along dim 0: bring the split dimension to the front and back.
  auto front = shard.detach().transpose(0, split_dim).contiguous();
  auto sizes = front.sizes().vec();
  sizes[0] *= tp.size();
  auto full = torch::empty(sizes, front.options());
  tp.all_gather(front, full);
  return full.transpose(0, split_dim).contiguous();
}

torch::Tensor local_shard(const torch::Tensor& full, int split_dim, Communicator& tp,
                          const std::string& name) {
  if (split_dim < 0 || tp.size() == 1) return full;
  const auto size = full.size(split_dim);
  if (size % tp.size() != 0) {
    throw std::runtime_error("cannot split '" + name + "' (" + std::to_string(size) + " along dim " +
                             std::to_string(split_dim) + ") across tp = " + std::to_string(tp.size()));
  }
  const auto width = size / tp.size();
  return full.narrow(split_dim, tp.rank() * width, width);
}

torch::Tensor gather_full(const ShardedTensor& t, Communicator& tp, const torch::Tensor& shard) {
  auto full = gather_full(shard.defined() ? shard : t.tensor, t.split_dim, tp);
  return t.rows >= 0 && full.size(0) > t.rows ? full.narrow(0, 0, t.rows).clone() : full;
}

torch::Tensor local_shard(const torch::Tensor& full, const ShardedTensor& like, Communicator& tp) {
  const std::int64_t padded = like.rows >= 0 && like.tensor.dim() > 0
                                  ? like.tensor.size(0) * (like.split_dim == 0 ? tp.size() : 1)
                                  : -1;
  if (like.rows >= 0 && full.dim() > 0 && full.size(0) == like.rows && padded > like.rows) {
    auto sizes = full.sizes().vec();
    sizes[0] = padded - like.rows;
    return local_shard(torch::cat({full, torch::zeros(sizes, full.options())}), like.split_dim, tp,
                       like.name);
  }
  return local_shard(full, like.split_dim, tp, like.name);
}

bool copy_local_shard(const ShardedTensor& target, const torch::Tensor& full, Communicator& tp) {
  const auto local = local_shard(full, target, tp);
  if (!local.sizes().equals(target.tensor.sizes())) return false;
  torch::NoGradGuard no_grad;
  const_cast<torch::Tensor&>(target.tensor)
      .copy_(local.to(target.tensor.device(), target.tensor.scalar_type()));
  return true;
}

}  // namespace trafficfm::distributed

#include "distributed/tensor_parallel_ops.h"

namespace trafficfm::distributed {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

Communicator& comm_of(AutogradContext* ctx) {
  return *reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
}

torch::Tensor sum_over(const torch::Tensor& x, Communicator& tp) {
  auto out = x.contiguous().clone();
  if (tp.size() > 1) tp.all_reduce(out, ReduceOp::kSum);
  return out;
}

torch::Tensor gather_last(const torch::Tensor& x, Communicator& tp) {
  if (tp.size() == 1) return x;
  // All-gather stacks along dim 0; move the last dim first so the chunks are contiguous.
  auto moved = x.movedim(-1, 0).contiguous();
  std::vector<std::int64_t> shape = moved.sizes().vec();
  shape[0] *= tp.size();
  auto out = torch::empty(shape, moved.options());
  tp.all_gather(moved, out);
  return out.movedim(0, -1).contiguous();
}

torch::Tensor slice_last(const torch::Tensor& x, Communicator& tp) {
  if (tp.size() == 1) return x;
  const std::int64_t width = x.size(-1) / tp.size();
  return x.narrow(-1, tp.rank() * width, width).contiguous();
}

struct CopyToTp : torch::autograd::Function<CopyToTp> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, std::int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {sum_over(g[0], comm_of(ctx)), torch::Tensor()};
  }
};

struct ReduceFromTp : torch::autograd::Function<ReduceFromTp> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, std::int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return sum_over(x, comm_of(ctx));
  }
  static variable_list backward(AutogradContext*, variable_list g) { return {g[0], torch::Tensor()}; }
};

struct GatherFromTp : torch::autograd::Function<GatherFromTp> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, std::int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return gather_last(x, comm_of(ctx));
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {slice_last(g[0], comm_of(ctx)), torch::Tensor()};
  }
};

struct ScatterToTp : torch::autograd::Function<ScatterToTp> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, std::int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return slice_last(x, comm_of(ctx));
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {gather_last(g[0], comm_of(ctx)), torch::Tensor()};
  }
};

std::int64_t handle(Communicator& tp) {
  return static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(&tp));
}

}  // namespace

torch::Tensor copy_to_tp(const torch::Tensor& x, Communicator& tp) {
  return tp.size() == 1 ? x : CopyToTp::apply(x, handle(tp));
}
torch::Tensor reduce_from_tp(const torch::Tensor& x, Communicator& tp) {
  return tp.size() == 1 ? x : ReduceFromTp::apply(x, handle(tp));
}
torch::Tensor gather_from_tp(const torch::Tensor& x, Communicator& tp) {
  return tp.size() == 1 ? x : GatherFromTp::apply(x, handle(tp));
}
torch::Tensor scatter_to_tp(const torch::Tensor& x, Communicator& tp) {
  return tp.size() == 1 ? x : ScatterToTp::apply(x, handle(tp));
}

torch::Tensor all_reduce_detached(const torch::Tensor& x, Communicator& tp, ReduceOp op) {
  auto out = x.detach().contiguous().clone();
  if (tp.size() > 1) tp.all_reduce(out, op);
  return out;
}

}  // namespace trafficfm::distributed

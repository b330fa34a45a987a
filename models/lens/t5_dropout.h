// Lens's dropout, where T5 puts it: on each stack's embedded input, on the attention
// probabilities, on the FFN's gated hidden state, on each sublayer's output before its residual
// add, and on each stack's final output (`--lens.dropout`, 0 by default: T5 v1.1 pretrains
// without it; fine-tuning usually takes 0.1). Only in training mode.
// The masks belong to samples, as MMAE's drop-path draws do (models/common/sample_random.h):
// each sample's mask at a site comes from its own key and the site's number in forward order,
// drawn at the full (unsplit) width and sliced to this tp rank's heads or FFN columns. So tp 2
// drops exactly what tp 1 drops, and a resumed run redraws the same masks with no generator
// state in the checkpoint. A mask has the shape of the sample's padded batch, so another dp size
// (other padding) draws other masks. Drawn on the CPU and copied (device-side draws: issue 22).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace trafficfm::models {

class T5Dropout {
 public:
  explicit T5Dropout(double rate = 0.0);
  double rate() const { return rate_; }
  // Before each training forward: the micro-batch's sample keys; numbers the sites from 0.
  void start(std::vector<std::uint64_t> keys);
  // The same from a batch's samples (sample_keys of the run seed, epoch and sample indices).
  void start(std::uint64_t seed, std::uint64_t epoch, const std::vector<std::uint64_t>& sample_index);
  // x [batch, ...]: a slice along `dim` (offset, x.size(dim) long) of a tensor that is `full`
  // long there (full <= 0: x is whole). Identity when the rate is 0 or not `training`; throws
  // when training without start().
  torch::Tensor apply(const torch::Tensor& x, bool training, std::int64_t dim = -1, std::int64_t full = 0,
                      std::int64_t offset = 0);

 private:
  double rate_;
  std::vector<std::uint64_t> keys_;
  std::uint64_t next_site_ = 0;
};

}  // namespace trafficfm::models

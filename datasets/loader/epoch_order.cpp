#include "datasets/loader/epoch_order.h"

#include <algorithm>

#include "core/rng.h"

namespace trafficfm::datasets {
namespace {

template <typename T>
void shuffle(std::vector<T>& v, core::Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(i) - 1));
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace

EpochOrder::EpochOrder(std::vector<SampleBlock> blocks, std::uint64_t seed, std::uint64_t epoch,
                       std::size_t window_blocks)
    : blocks_(std::move(blocks)),
      seed_(seed),
      epoch_(epoch),
      window_blocks_(std::max<std::size_t>(1, window_blocks)) {
  block_order_.resize(blocks_.size());
  for (std::size_t i = 0; i < blocks_.size(); ++i) block_order_[i] = static_cast<std::uint32_t>(i);
  core::Rng rng(seed_, core::derive_seed(epoch_, 0x51ab));
  shuffle(block_order_, rng);
  for (std::size_t b = 0; b < block_order_.size(); ++b) {
    if (b % window_blocks_ == 0) window_start_.push_back(total_);
    total_ += blocks_[block_order_[b]].rows;
  }
}

void EpochOrder::load_window(std::size_t window) {
  window_order_.clear();
  const std::size_t end = std::min(block_order_.size(), (window + 1) * window_blocks_);
  for (std::size_t b = window * window_blocks_; b < end; ++b) {
    for (std::uint32_t r = 0; r < blocks_[block_order_[b]].rows; ++r)
      window_order_.push_back({block_order_[b], r});
  }
  core::Rng rng(seed_, core::derive_seed(epoch_, 0x10000 + window));
  shuffle(window_order_, rng);
  loaded_window_ = window;
}

EpochOrder::Where EpochOrder::at(std::uint64_t position) {
  const std::size_t window =
      static_cast<std::size_t>(std::upper_bound(window_start_.begin(), window_start_.end(), position) -
                               window_start_.begin()) -
      1;
  if (window != loaded_window_) load_window(window);
  return window_order_[position - window_start_[window]];
}

}  // namespace trafficfm::datasets

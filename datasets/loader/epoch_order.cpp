#include "datasets/loader/epoch_order.h"

#include <algorithm>
#include <stdexcept>

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

WindowShuffle parse_window_shuffle(const std::string& text) {
  if (text == "interleave") return WindowShuffle::kInterleave;
  if (text == "window") return WindowShuffle::kWindow;
  throw std::invalid_argument("'" + text + "' is not a window shuffle: interleave | window");
}

std::string to_string(WindowShuffle shuffle) {
  return shuffle == WindowShuffle::kInterleave ? "interleave" : "window";
}

EpochOrder::EpochOrder(std::vector<SampleBlock> blocks, std::uint64_t seed, std::uint64_t epoch,
                       std::size_t window_blocks, WindowShuffle window_shuffle)
    : blocks_(std::move(blocks)),
      seed_(seed),
      epoch_(epoch),
      window_blocks_(std::max<std::size_t>(1, window_blocks)),
      shuffle_(window_shuffle) {
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
  const std::size_t first = window * window_blocks_;
  const std::size_t end = std::min(block_order_.size(), first + window_blocks_);
  if (shuffle_ == WindowShuffle::kWindow) {
    for (std::size_t b = first; b < end; ++b) {
      for (std::uint32_t r = 0; r < blocks_[block_order_[b]].rows; ++r)
        window_order_.push_back({block_order_[b], r, 0});
    }
    core::Rng rng(seed_, core::derive_seed(epoch_, 0x10000 + window));
    shuffle(window_order_, rng);
  } else {
    // Each block's rows shuffled (one stream for the window, block after block), then dealt in
    // proportion to the blocks' sizes: row t of a block of R rows goes at (t + 1/2) / R of the
    // window (ties in lane order). Equal blocks are dealt one row of each in turn; a short block
    // (a shard's last) is spread over the whole window, so every run of positions still holds
    // each block's share and the lanes' boundaries fall at the same place in every step.
    core::Rng rng(seed_, core::derive_seed(epoch_, 0x20000 + window));
    struct Dealt {
      double at;
      Where where;
    };
    std::vector<Dealt> dealt;
    std::vector<std::uint32_t> rows;
    for (std::size_t lane = first; lane < end; ++lane) {
      const std::uint32_t block = block_order_[lane];
      rows.resize(blocks_[block].rows);
      for (std::uint32_t r = 0; r < rows.size(); ++r) rows[r] = r;
      shuffle(rows, rng);
      for (std::uint32_t t = 0; t < rows.size(); ++t) {
        dealt.push_back({(t + 0.5) / static_cast<double>(rows.size()),
                         {block, rows[t], static_cast<std::uint32_t>(lane - first)}});
      }
    }
    std::stable_sort(dealt.begin(), dealt.end(), [](const Dealt& a, const Dealt& b) { return a.at < b.at; });
    window_order_.reserve(dealt.size());
    for (const auto& d : dealt) window_order_.push_back(d.where);
  }
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

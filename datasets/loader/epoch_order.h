// The order in which one epoch visits a split's samples: a pure function of (seed, epoch).
// Shuffling single samples across a compressed corpus would decompress a whole chunk per
// sample, so the order is shuffled in two levels: the blocks (runs of `block_rows` samples of
// one shard, aligned with its HDF5 chunks) are permuted, then the samples of each window of
// `window_blocks` consecutive blocks are ordered by one of two rules (WindowShuffle):
//  - kInterleave (the default): each block's rows are shuffled and the window's blocks are
//    interleaved (one row of each block in turn), so any run of positions holds an even share of
//    every block in the window. Each position's `lane` is its block's place in the window; the
//    loader splits a step among dp ranks by lane, so a rank reads (decompresses) the blocks of
//    its own lanes, about 1/dp of the corpus, instead of every block of every window.
//  - kWindow: all the window's samples shuffled together (the order before kInterleave; lane is
//    always 0). Each dp rank's share of a step then touches every block of the window.
// Memory is O(blocks), not O(samples).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trafficfm::datasets {

struct SampleBlock {
  std::uint32_t shard = 0;      // index into the loader's shard list
  std::uint64_t first_row = 0;  // first row inside the shard
  std::uint32_t rows = 0;
  std::uint64_t first_sample = 0;  // global sample index of first_row within the split
};

enum class WindowShuffle { kInterleave, kWindow };
// "interleave" | "window"; throws std::invalid_argument naming the accepted values.
WindowShuffle parse_window_shuffle(const std::string& text);
std::string to_string(WindowShuffle shuffle);

class EpochOrder {
 public:
  EpochOrder(std::vector<SampleBlock> blocks, std::uint64_t seed, std::uint64_t epoch,
             std::size_t window_blocks, WindowShuffle window_shuffle = WindowShuffle::kInterleave);
  std::uint64_t size() const { return total_; }
  // The (block, row-in-block) visited at epoch position `position` (0 <= position < size()),
  // and its lane (the block's place in its window; 0 with kWindow).
  struct Where {
    std::uint32_t block;
    std::uint32_t row;
    std::uint32_t lane;
  };
  Where at(std::uint64_t position);
  const SampleBlock& block(std::uint32_t b) const { return blocks_[b]; }

 private:
  void load_window(std::size_t window);
  std::vector<SampleBlock> blocks_;
  std::vector<std::uint32_t> block_order_;   // permuted block indices
  std::vector<std::uint64_t> window_start_;  // epoch position where each window starts
  std::uint64_t seed_, epoch_;
  std::size_t window_blocks_;
  WindowShuffle shuffle_;
  std::uint64_t total_ = 0;
  std::size_t loaded_window_ = SIZE_MAX;
  std::vector<Where> window_order_;
};

}  // namespace trafficfm::datasets

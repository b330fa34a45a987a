// The order in which one epoch visits a split's samples: a pure function of (seed, epoch).
// Shuffling single samples across a compressed corpus would decompress a whole chunk per
// sample, so the order is shuffled in two levels: the blocks (runs of `block_rows` samples of
// one shard, aligned with its HDF5 chunks) are permuted, then samples are permuted within
// windows of `window_blocks` consecutive blocks. Memory is O(blocks), not O(samples).
#pragma once
#include <cstdint>
#include <vector>

namespace trafficfm::datasets {

struct SampleBlock {
  std::uint32_t shard = 0;      // index into the loader's shard list
  std::uint64_t first_row = 0;  // first row inside the shard
  std::uint32_t rows = 0;
  std::uint64_t first_sample = 0;  // global sample index of first_row within the split
};

class EpochOrder {
 public:
  EpochOrder(std::vector<SampleBlock> blocks, std::uint64_t seed, std::uint64_t epoch,
             std::size_t window_blocks);
  std::uint64_t size() const { return total_; }
  // The (block, row-in-block) visited at epoch position `position` (0 <= position < size()).
  struct Where {
    std::uint32_t block;
    std::uint32_t row;
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
  std::uint64_t total_ = 0;
  std::size_t loaded_window_ = SIZE_MAX;
  std::vector<Where> window_order_;
};

}  // namespace trafficfm::datasets

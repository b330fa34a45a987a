// Streams encoded samples into shards: one buffer per split, flushed to
// shard-NNNNN.h5 whenever it reaches the target size. Rank r of W numbers its shards
// r, r + W, r + 2W, ... so ranks never collide and need not talk while writing.
// Each chunk's rows of the fixed-width columns are compressed as soon as the chunk is full, and
// their memory reused for the next chunk: a shard's raw rows never all wait in memory. With
// threads > 1 that compression, and the writing of each full shard, run on a pool while the
// caller goes on encoding; names, order and bytes are those of one thread.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "datasets/corpus/columns.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"

struct XXH3_state_s;  // xxhash.h

namespace trafficfm::core {
class TaskPool;
}

namespace trafficfm::datasets {

// train 0, val 1, test 2: deterministic in the hash, so a flow never lands in two splits.
int choose_split(std::uint64_t hash, double val_fraction, double test_fraction);
// FNV-1a of a text: the split key of a file name (--split-by file) or of a graph sample.
std::uint64_t text_hash(const std::string& text);

class CorpusWriter {
 public:
  CorpusWriter(std::string dir, std::string encoder_name, std::vector<ColumnSpec> encoder_columns,
               std::uint64_t shard_target_bytes, ShardWriteOptions options, int rank, int world,
               bool dedup_across_splits = true, int threads = 1);
  ~CorpusWriter();

  // The buffer a sample of `split` is appended to; columns [0, encoder columns) are the
  // encoder's, then `label` and `flow_hash` (filled by commit_row).
  ColumnBuffer& row_buffer(int split) { return buffers_[split]; }
  // Completes the row; false when it was dropped instead: with dedup_across_splits, a sample
  // whose encoded content (every encoder column, byte for byte) this writer already stored in
  // another split. Flows that differ only in what anonymization zeroes (addresses, ports) encode
  // identically but hash to different splits by their 5-tuples, so the split hash alone puts
  // copies of one sample into train and test. Copies within one split are kept; samples that
  // differ in any kept byte (IP ID, TTL, sequence numbers, timing) are not copies.
  bool commit_row(int split, std::int32_t label, std::uint64_t flow_hash);
  void finish();  // writes what is buffered

  const std::vector<ShardInfo>& shards() const { return shards_; }
  const std::vector<ColumnSpec>& schema() const { return buffers_[0].specs(); }

 private:
  struct Pending;
  struct EarlyChunk;
  void flush(int split);
  void write_pending(const std::shared_ptr<Pending>& job);
  void hand_off_chunk(int split);
  std::shared_ptr<Pending> open_job(int split);
  ShardStream& stream_of(Pending& job);
  void run(std::function<void()> task);  // on the pool, or here with one thread
  ColumnBuffer fresh_buffer();
  std::vector<std::vector<std::uint8_t>> spare_rows();
  std::string dir_;
  std::string encoder_name_;
  std::vector<ColumnBuffer> buffers_;
  std::size_t label_column_;
  bool dedup_;
  // A row's 128-bit XXH3 -> the split it went to. Already uniform, so the table hashes by its
  // first word.
  struct DigestHash {
    std::size_t operator()(const std::array<std::uint64_t, 2>& d) const { return d[0]; }
  };
  std::unordered_map<std::array<std::uint64_t, 2>, int, DigestHash> first_split_;
  std::unique_ptr<::XXH3_state_s, void (*)(::XXH3_state_s*)> row_hash_;
  std::uint64_t target_bytes_;
  ShardWriteOptions options_;
  int rank_, world_;
  std::uint64_t next_index_ = 0;
  std::vector<ShardInfo> shards_;
  std::size_t chunk_rows_;
  std::vector<ShardDataset> layout_;  // a shard's datasets, in order (no rows)
  std::vector<int> column_of_;        // dataset d is fixed-width column column_of_[d], or -1
  std::uint64_t opened_ = 0;          // shard files opened so far (their temporary names)
  // Shards being compressed and written, emptied buffers and chunk storage for reuse.
  std::mutex mutex_;
  std::vector<ColumnBuffer> spare_;
  std::vector<std::vector<std::vector<std::uint8_t>>> spare_rows_;  // [set][column]
  std::atomic<int> in_flight_{0};   // flushed shards whose chunks are in memory
  std::atomic<int> unfinished_{0};  // flushed shards not yet committed
  int max_in_flight_ = 1;
  std::shared_ptr<Pending> open_[3];      // per split: the chunks handed off so far
  std::unique_ptr<core::TaskPool> pool_;  // last: its tasks use the members above
};

}  // namespace trafficfm::datasets

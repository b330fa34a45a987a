// Streams batches of a corpus split into one data-parallel rank.
//
// Every epoch has one global order (EpochOrder, a function of seed and epoch). Step s takes
// the global positions [s*G, (s+1)*G), G = dp_size * batch_size, ordered by lane (stable: the
// block's place in its shuffle window, epoch_order.h), and rank r takes its even share of that
// sequence; the last step of an epoch takes what is left (no sample skipped, none twice). With
// the interleaved window order a rank's share is then drawn from its own lanes' blocks: each
// block is decompressed by about one rank, not by all (blocks_read()).
// The position is the whole state: state() after a batch and restore() before the next give
// exactly the batches an uninterrupted run would see, also at a different dp_size. The state
// also records the corpus and order fingerprints: restore() refuses a state from another corpus
// build or other order-defining settings (window, block rows, sample subset), naming both.
//
// Shards are checked when the loader opens (SHA-256 against the manifest, HDF5 structure):
// a bad one is an error naming it, or with skip_bad_shards is left out and counted. With
// VerifyShards::kOnce (the default) a shard whose size and mtime are those recorded in
// CORPUS/verified.json is not hashed again (datasets/corpus/verified_shards.h). Batches are
// assembled on a background thread (prefetch) that alone touches HDF5.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/corpus/verified_shards.h"
#include "datasets/loader/epoch_order.h"

namespace trafficfm::datasets {

struct LoaderOptions {
  std::string corpus;
  // A split, or several joined by '+' ("train+val+test"): their samples in that order, one index
  // space (a node-labelled model's role reads the graphs of every split, see label_plan.h).
  std::string split = "train";
  // What the batches are for (Batch::role): the split by default; a fine-tuning stage reading
  // "train+val+test" for its val role says "val".
  std::string role;
  int dp_rank = 0;
  int dp_size = 1;
  std::uint64_t seed = 0;
  std::size_t batch_size = 32;                         // per rank
  std::size_t window_blocks = 16;                      // shuffle window, in blocks
  WindowShuffle shuffle = WindowShuffle::kInterleave;  // order within a window (epoch_order.h)
  std::size_t block_rows = 0;                          // 0: the shards' HDF5 chunk length
  std::size_t prefetch = 2;                            // batches assembled ahead
  VerifyShards verify = VerifyShards::kOnce;           // SHA-256 of the shards against the manifest
  bool skip_bad_shards = false;
  std::vector<std::string> columns;  // empty: every column
  // When not empty: only these samples of the split (indices within the split, as in
  // Batch::sample_index), e.g. the labeled share a fine-tuning run uses. Sorted, no repeats.
  std::vector<std::uint64_t> subset;
  // An epoch's last step can hold fewer samples than there are dp ranks, leaving a rank none.
  // Training wants every rank in the gradient all-reduce with a finite (zero) gradient: such a
  // rank then gets the step's first sample as a filler row (Batch::filler), to be weighed 0.
  bool pad_empty_ranks = false;
  // Batches by size rather than by count (graphs of any size): a fixed int64 scalar column,
  // e.g. a graph's "nodes". A step then takes samples in epoch order while their sizes sum to at
  // most dp_size * batch_size (at least one sample), so batch_size counts this column's units.
  // The step's samples are divided among the ranks in contiguous runs of about equal
  // `balance_column` (default: size_column), e.g. nodes + edges. The state is still the epoch
  // position, so resume at another dp size continues with the next sample unchanged.
  std::string size_column;
  std::string balance_column;
};

struct Batch {
  std::vector<ColumnSpec> specs;
  std::vector<std::vector<std::uint8_t>> data;  // per column, rows x bytes_per_sample (ragged: elements)
  // Per column: a ragged column's rows + 1 element offsets into data (from 0); empty when fixed.
  std::vector<std::vector<std::uint64_t>> offsets;
  std::size_t rows = 0;
  std::size_t global_rows = 0;  // rows of this step over all dp ranks
  bool filler = false;          // the rows stand in for an empty share: weigh 0
  std::uint64_t epoch = 0;
  std::uint64_t step = 0;                   // step within the epoch (size-bounded: since restore)
  std::vector<std::uint64_t> sample_index;  // each row's index within the split (or joined splits)
  std::string role;                         // LoaderOptions::role (or the split)
  template <typename T>
  const T* column(const std::string& name) const;
  std::size_t column_index(const std::string& name) const;
  // A ragged column's offsets (rows + 1); throws for a fixed or missing column.
  const std::vector<std::uint64_t>& offsets_of(const std::string& name) const;
};

// What an epoch's order depends on besides the seed, so that a resume onto a rebuilt corpus or
// changed loader settings is refused instead of silently continuing another order.
struct DataOrder {
  std::string corpus;               // digest of the split's shards: files, SHA-256s, sample counts
  std::string blocks;               // digest of the sample blocks (block rows, subset) and window
  std::uint64_t window_blocks = 0;  // for the message: --data.window-blocks
  std::uint64_t block_rows = 0;     // for the message: rows per block (HDF5 chunk rows)
  std::string shuffle;              // for the message: --data.shuffle ("window" before it existed)
  bool recorded() const { return !corpus.empty(); }  // false: a state saved before it existed
  bool same_as(const DataOrder& other) const { return corpus == other.corpus && blocks == other.blocks; }
};

struct LoaderState {
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  std::uint64_t position = 0;  // global samples of this epoch already consumed
  DataOrder data;              // this loader's; restore() refuses a state of another
  std::string to_json() const;
  static LoaderState from_json(const std::string& text);
};

class Loader {
 public:
  explicit Loader(const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch; epochs follow one another without end.
  Batch next();
  LoaderState state() const { return consumed_; }
  void restore(const LoaderState& state);

  std::uint64_t samples_per_epoch() const { return total_samples_; }
  std::uint64_t steps_per_epoch() const;
  std::size_t skipped_shards() const { return skipped_shards_; }
  std::size_t shards_hashed() const { return shards_hashed_; }  // at open (the rest were trusted)
  // Blocks read from the shards (decompressed) so far, prefetched batches included.
  std::uint64_t blocks_read() const { return blocks_read_.load(); }
  std::size_t batch_size() const { return options_.batch_size; }
  const std::vector<ColumnSpec>& columns() const { return specs_; }
  // The splits options.split names, in order (throws on an unknown name).
  static std::vector<std::string> splits_of(const std::string& split);
  const Manifest& manifest() const { return manifest_; }

 private:
  struct ShardSource;
  // The epoch position after the step that starts at `begin` (end of the step's samples).
  std::uint64_t step_end(EpochOrder& order, std::uint64_t begin) const;
  std::uint64_t sample_at(EpochOrder& order, std::uint64_t position) const;
  std::size_t size_column_index(const std::string& name) const;
  void read_sizes(const ShardReader& reader, std::vector<std::int64_t>& sizes,
                  std::vector<std::int64_t>& balance) const;
  Batch assemble(std::uint64_t epoch, std::uint64_t step, std::uint64_t begin, std::uint64_t end);
  void keep_only_subset();
  DataOrder fingerprint() const;
  void worker_loop();
  void start_worker();
  void stop_worker();

  LoaderOptions options_;
  Manifest manifest_;
  std::vector<ColumnSpec> specs_;          // selected columns
  std::vector<std::size_t> column_index_;  // into manifest_.columns
  std::vector<std::unique_ptr<ShardSource>> shards_;
  std::vector<SampleBlock> blocks_;
  std::uint64_t total_samples_ = 0;
  std::uint64_t block_rows_ = 0;  // rows per block before a subset is taken (the largest)
  DataOrder data_order_;
  std::size_t skipped_shards_ = 0, shards_hashed_ = 0;
  std::atomic<std::uint64_t> blocks_read_{0};
  std::unique_ptr<EpochOrder> order_;  // the worker's; rebuilt when the epoch changes
  std::uint64_t order_epoch_ = 0;
  std::vector<std::int64_t> sizes_, balance_;       // per split sample, with size_column
  std::size_t size_index_ = 0, balance_index_ = 0;  // their columns in the manifest
  std::uint64_t produced_step_ = 0;
  mutable std::uint64_t steps_per_epoch_ = 0;  // with size_column: epoch 0's, computed once

  LoaderState consumed_;  // after the last batch handed out
  LoaderState produced_;  // after the last batch the worker assembled
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<Batch, LoaderState>> ready_;
  std::string worker_error_;
  bool stopping_ = false;
  std::thread worker_;
};

template <typename T>
const T* Batch::column(const std::string& name) const {
  return reinterpret_cast<const T*>(data[column_index(name)].data());
}

}  // namespace trafficfm::datasets

#include "datasets/corpus/corpus_writer.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/atomic_file.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "core/task_pool.h"

namespace trafficfm::datasets {

int choose_split(std::uint64_t hash, double val_fraction, double test_fraction) {
  std::uint64_t state = hash;
  const double u = static_cast<double>(core::splitmix64(state) >> 11) * 0x1.0p-53;
  if (u < test_fraction) return 2;
  if (u < test_fraction + val_fraction) return 1;
  return 0;
}

std::uint64_t text_hash(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

namespace {

std::vector<ColumnSpec> with_common_columns(std::vector<ColumnSpec> columns) {
  columns.push_back({"label", DType::kInt32, {}, "label id into manifest.label_names; -1 unlabeled"});
  columns.push_back({"flow_hash", DType::kUint64, {}, "hash of the flow's 5-tuple (split key)"});
  return columns;
}

}  // namespace

CorpusWriter::CorpusWriter(std::string dir, std::string encoder_name, std::vector<ColumnSpec> encoder_columns,
                           std::uint64_t shard_target_bytes, ShardWriteOptions options, int rank, int world,
                           bool dedup_across_splits, int threads)
    : dir_(std::move(dir)),
      encoder_name_(std::move(encoder_name)),
      row_hash_(nullptr, [](XXH3_state_t* state) { XXH3_freeState(state); }),
      target_bytes_(shard_target_bytes),
      options_(options),
      rank_(rank),
      world_(world) {
  const auto schema = with_common_columns(std::move(encoder_columns));
  for (int s = 0; s < 3; ++s) buffers_.emplace_back(schema);
  label_column_ = schema.size() - 2;
  dedup_ = dedup_across_splits;
  if (dedup_) {
    row_hash_.reset(XXH3_createState());
    if (!row_hash_) throw std::bad_alloc();
  }
  chunk_rows_ = std::max<std::size_t>(1, options_.chunk_rows);
  for (auto& b : buffers_) b.reserve_rows(chunk_rows_);
  layout_ = shard_datasets(buffers_[0], options_);   // names, types, shapes: no rows yet
  for (std::size_t c = 0; c < schema.size(); ++c) {  // datasets: a column, then a ragged one's offsets
    column_of_.push_back(schema[c].ragged ? -1 : static_cast<int>(c));
    if (schema[c].ragged) column_of_.push_back(-1);
  }
  if (threads > 1) {
    // The caller encodes on its own thread; the pool's threads-1 compress and write. Up to
    // `threads` full shards wait (compressed) before commit_row() waits, and helps.
    pool_ = std::make_unique<core::TaskPool>(threads - 1);
    max_in_flight_ = threads;
  }
}

CorpusWriter::~CorpusWriter() {
  pool_.reset();  // runs what is queued: nothing outlives the members its tasks use
}

void CorpusWriter::run(std::function<void()> task) {
  if (pool_) {
    pool_->submit(std::move(task));
  } else {
    task();
  }
}

bool CorpusWriter::commit_row(int split, std::int32_t label, std::uint64_t flow_hash) {
  ColumnBuffer& buffer = buffers_[split];
  if (dedup_) {
    // The row being completed: each encoder column's bytes since the last completed row, under
    // XXH3's 128 bits: OpenSSL's SHA-256 here took 18% of a one-thread prep, XXH3 takes 3%. Two
    // different rows collide with probability ~2^-128 per pair. XXH3 is not cryptographic: a
    // capture built to collide could at worst get one row dropped as a copy of another.
    XXH3_state_t* content = row_hash_.get();
    XXH3_128bits_reset(content);
    for (std::size_t c = 0; c < label_column_; ++c) {
      const auto [bytes, size] = buffer.current_row(c);
      const std::uint64_t length = size;  // a ragged row's length is part of its content
      if (buffer.specs()[c].ragged) XXH3_128bits_update(content, &length, sizeof length);
      XXH3_128bits_update(content, bytes, size);
    }
    const XXH128_hash_t digest = XXH3_128bits_digest(content);
    const std::array<std::uint64_t, 2> key{digest.low64, digest.high64};
    const auto [it, fresh] = first_split_.emplace(key, split);
    if (!fresh && it->second != split) {
      buffer.abandon_row();
      return false;
    }
  }
  buffer.put(label_column_, label);
  buffer.put(label_column_ + 1, flow_hash);
  buffer.end_row();
  if (buffer.rows() - buffer.first_row() == chunk_rows_) hand_off_chunk(split);
  if (buffer.bytes() >= target_bytes_) flush(split);
  return true;
}

// One chunk's rows of the fixed-width columns, taken from a split's buffer once complete, and
// what they filter into.
struct CorpusWriter::EarlyChunk {
  std::vector<std::vector<std::uint8_t>> rows;     // [column], recycled once encoded
  std::vector<std::vector<std::uint8_t>> encoded;  // [column], freed once in the file
  bool ready = false;                              // encoded (under the job's mutex)
};

// A shard on its way to its file. While its rows arrive, each full chunk is handed off (`early`),
// encoded on the pool and appended to the open file in order; at the flush the buffer with the
// rest moves in, and the task finishing the last chunk finishes and commits the file.
struct CorpusWriter::Pending {
  std::string tmp;   // the file while written (its shard number is known only at the flush)
  std::string path;  // set at the flush
  std::unique_ptr<ColumnBuffer> buffer;            // set at the flush
  std::size_t slot = 0;                            // its entry in shards_
  std::vector<ShardDataset> datasets;              // set at the flush
  std::mutex mutex;                                // guards early, appended and the stream
  std::vector<std::shared_ptr<EarlyChunk>> early;  // chunk k
  std::size_t appended = 0;                        // early chunks in the file
  std::unique_ptr<ShardStream> stream;
  std::atomic<std::size_t> chunks_left{1};  // 1: held until the flush has submitted all
};

ColumnBuffer CorpusWriter::fresh_buffer() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (spare_.empty()) {
    ColumnBuffer b(buffers_[0].specs());
    b.reserve_rows(chunk_rows_);
    return b;
  }
  ColumnBuffer b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

// Storage for a chunk's rows of every fixed-width column: recycled, so its pages are warm.
std::vector<std::vector<std::uint8_t>> CorpusWriter::spare_rows() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!spare_rows_.empty()) {
      auto rows = std::move(spare_rows_.back());
      spare_rows_.pop_back();
      return rows;
    }
  }
  const auto& specs = buffers_[0].specs();
  std::vector<std::vector<std::uint8_t>> rows(specs.size());
  for (std::size_t c = 0; c < specs.size(); ++c) {
    if (!specs[c].ragged) rows[c].reserve(chunk_rows_ * specs[c].bytes_per_sample());
  }
  return rows;
}

std::shared_ptr<CorpusWriter::Pending> CorpusWriter::open_job(int split) {
  auto& job = open_[split];
  if (!job) {
    job = std::make_shared<Pending>();
    char name[48];
    // "shard-" first: a later prep --overwrite removes it should this run die before the rename.
    std::snprintf(name, sizeof name, "/shard-open-r%d-%llu.h5", rank_,
                  static_cast<unsigned long long>(opened_++));
    job->tmp = core::temporary_path_for(dir_ + name);
  }
  return job;
}

// The file of a job, opened by whoever needs it first (under the job's mutex).
ShardStream& CorpusWriter::stream_of(Pending& job) {
  if (!job.stream) {
    job.stream = std::make_unique<ShardStream>(job.tmp, layout_, column_of_, options_, encoder_name_);
  }
  return *job.stream;
}

// The split's rows just filled chunk k: hand them off and filter them (on the pool), while the
// buffer goes on with recycled storage; encoded chunks go to the file in order.
void CorpusWriter::hand_off_chunk(int split) {
  ColumnBuffer& buffer = buffers_[split];
  const std::size_t k = buffer.first_row() / chunk_rows_;
  std::shared_ptr<Pending> job = open_job(split);
  auto chunk = std::make_shared<EarlyChunk>();
  chunk->rows = spare_rows();
  buffer.take_fixed_rows(chunk->rows);
  chunk->encoded.resize(chunk->rows.size());
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    job->early.push_back(chunk);
  }
  ++job->chunks_left;
  // One task for chunk k of every fixed-width column: a task per column woke the pool seven
  // times as often for the same work.
  run([this, job, chunk, k] {
    const auto& specs = buffers_[0].specs();
    for (std::size_t c = 0; c < specs.size(); ++c) {
      if (specs[c].ragged) continue;
      try {
        chunk->encoded[c] = encode_rows(chunk->rows[c].data(), chunk_rows_, chunk_rows_,
                                        specs[c].bytes_per_sample(), specs[c].type, options_.deflate_level);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error("dataset '" + specs[c].name + "': " + e.what() + " on chunk " +
                                 std::to_string(k));
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      spare_rows_.push_back(std::move(chunk->rows));
    }
    {
      // Whoever completes the next chunk in order appends it and every ready one after it.
      std::lock_guard<std::mutex> lock(job->mutex);
      chunk->ready = true;
      while (job->appended < job->early.size() && job->early[job->appended]->ready) {
        auto& next = job->early[job->appended];
        stream_of(*job).append_chunk(next->encoded);
        next.reset();
        ++job->appended;
      }
    }
    if (--job->chunks_left == 0) write_pending(job);
  });
}

void CorpusWriter::flush(int split) {
  ColumnBuffer& buffer = buffers_[split];
  if (buffer.rows() == 0) return;
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05llu.h5",
                static_cast<unsigned long long>(next_index_ * world_ + rank_));
  ++next_index_;
  ShardInfo info;
  info.file = name;
  info.split = kSplitNames[split];
  info.samples = buffer.rows();
  // Wait (helping) until a slot is free, so memory stays bounded.
  if (pool_) pool_->help_until([&] { return in_flight_.load() < max_in_flight_; });
  std::shared_ptr<Pending> job = open_job(split);
  open_[split].reset();
  job->buffer = std::make_unique<ColumnBuffer>(fresh_buffer());
  std::swap(*job->buffer, buffer);
  job->path = dir_ + "/" + name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job->slot = shards_.size();
    shards_.push_back(info);
  }
  job->datasets = shard_datasets(*job->buffer, options_);
  std::size_t early = 0;
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    early = job->early.size();
  }
  ++in_flight_;
  ++unfinished_;
  for (std::size_t d = 0; d < job->datasets.size(); ++d) {
    for (std::size_t k = column_of_[d] >= 0 ? early : 0; k < job->datasets[d].chunk_count(); ++k) {
      ++job->chunks_left;
      run([this, job, d, k] {
        encode_chunk(job->datasets[d], k, options_.deflate_level);
        if (--job->chunks_left == 0) write_pending(job);
      });
    }
  }
  if (--job->chunks_left == 0) run([this, job] { write_pending(job); });
}

// Finishes a shard whose chunks are all encoded (the early ones are in its file already). Its
// memory and in-flight slot are given back as soon as HDF5 has the bytes; the hash is read while
// the disk writes the file, then fsync and rename commit it.
void CorpusWriter::write_pending(const std::shared_ptr<Pending>& job) {
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    stream_of(*job).finish(job->datasets);
    job->stream.reset();
    job->early.clear();
  }
  job->datasets.clear();
  job->buffer->clear();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    spare_.push_back(std::move(*job->buffer));
  }
  --in_flight_;
  if (pool_) pool_->wake();
  core::start_writeback(job->tmp);
  const std::string sha = core::sha256_file(job->tmp);
  core::commit_file(job->tmp, job->path);
  struct stat st {};
  if (::stat(job->path.c_str(), &st) != 0)
    throw std::runtime_error(job->path + ": cannot stat the shard just written");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shards_[job->slot].bytes = static_cast<std::uint64_t>(st.st_size);
    shards_[job->slot].sha256 = sha;
  }
  --unfinished_;
  if (pool_) pool_->wake();
}

void CorpusWriter::finish() {
  for (int s = 0; s < 3; ++s) flush(s);
  if (pool_) pool_->help_until([&] { return unfinished_.load() == 0; });
}

}  // namespace trafficfm::datasets

#include "datasets/corpus/corpus_writer.h"

#include <xxhash.h>

#include <cstdio>
#include <cstring>

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
  for (auto& b : buffers_) b.reserve_rows(reserve_rows());
  if (threads > 1) {
    // The caller encodes on its own thread; the pool's threads-1 compress and write. Up to
    // `threads` full shards wait in memory before commit_row() waits (and helps).
    pool_ = std::make_unique<core::TaskPool>(threads - 1);
    max_in_flight_ = threads;
    early_ = target_bytes_ <= (1ULL << 30);  // the reservation covers a whole shard
  }
}

CorpusWriter::~CorpusWriter() {
  pool_.reset();  // runs what is queued: nothing outlives the members its tasks use
}

// Rows of the fixed-width columns that fill a shard, to reserve: growing a buffer of tens of
// MB by doubling copies it several times over.
std::size_t CorpusWriter::reserve_rows() const {
  std::size_t row = 0;
  for (const auto& spec : buffers_[0].specs()) {
    if (!spec.ragged) row += spec.bytes_per_sample();
  }
  return row == 0 ? 0
                  : static_cast<std::size_t>(std::min<std::uint64_t>(target_bytes_, 1ULL << 30) / row + 2);
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
  if (buffer.bytes() >= target_bytes_) {
    flush(split);
  } else if (early_) {
    encode_early(split);
  }
  return true;
}

// A buffer on its way to a shard file (threads > 1). While rows still arrive, each whole chunk
// of a fixed-width column is encoded as soon as its rows are in (`early`); at the flush the
// buffer moves in and the rest of its chunks follow. The thread finishing the last chunk writes.
struct CorpusWriter::Pending {
  std::unique_ptr<ColumnBuffer> buffer;  // set at the flush
  std::string path;
  std::size_t slot = 0;  // its entry in shards_
  std::vector<ShardDataset> datasets;
  std::vector<int> column_of;  // datasets[i] holds fixed-width column column_of[i], or -1 (ragged)
  std::vector<std::vector<std::vector<std::uint8_t>>> early;  // [column][chunk]
  std::size_t early_chunks = 0;                               // chunks encoded early per fixed column
  std::atomic<std::size_t> chunks_left{1};                    // 1: held until the flush has submitted all
};

ColumnBuffer CorpusWriter::fresh_buffer() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (spare_.empty()) {
    ColumnBuffer b(buffers_[0].specs());
    b.reserve_rows(reserve_rows());
    return b;
  }
  ColumnBuffer b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

// The split's rows just filled chunk k: encode it for every fixed-width column now, on the pool.
// The rows stay where they are until the shard is written: the buffer was reserved for a whole
// shard (reserve_rows), so appending never moves them.
void CorpusWriter::encode_early(int split) {
  const ColumnBuffer& buffer = buffers_[split];
  const std::size_t rows_per_chunk = std::max<std::size_t>(1, options_.chunk_rows);
  if (buffer.rows() % rows_per_chunk != 0) return;
  const std::size_t k = buffer.rows() / rows_per_chunk - 1;
  auto& job = open_[split];
  if (!job) {
    job = std::make_shared<Pending>();
    job->early.resize(buffer.specs().size());
    for (auto& column : job->early) column.resize(reserve_rows() / rows_per_chunk + 1);
  }
  if (k != job->early_chunks || k >= job->early[0].size()) return;
  for (std::size_t c = 0; c < buffer.specs().size(); ++c) {
    const ColumnSpec& spec = buffer.specs()[c];
    if (spec.ragged) continue;
    if (buffer.data(c).capacity() < reserve_rows() * spec.bytes_per_sample()) return;  // could move
  }
  ++job->early_chunks;
  // One task for chunk k of every fixed-width column: a task per column woke the pool seven
  // times as often for the same work.
  std::vector<std::pair<std::size_t, ShardDataset>> views;
  for (std::size_t c = 0; c < buffer.specs().size(); ++c) {
    const ColumnSpec& spec = buffer.specs()[c];
    if (spec.ragged) continue;
    ShardDataset view;
    view.name = spec.name;
    view.dtype = spec.type;
    view.length = (k + 1) * rows_per_chunk;
    view.data = buffer.data(c).data();
    view.row_bytes = spec.bytes_per_sample();
    view.chunk_rows = rows_per_chunk;
    view.chunks.resize(k + 1);
    views.emplace_back(c, std::move(view));
  }
  ++job->chunks_left;
  pool_->submit([this, job, views = std::move(views), k]() mutable {
    for (auto& [c, view] : views) {
      encode_chunk(view, k, options_.deflate_level);
      job->early[c][k] = std::move(view.chunks[k]);
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
  if (!pool_) {
    info.bytes = write_shard(dir_ + "/" + name, buffer, options_, encoder_name_);
    info.sha256 = core::sha256_file(dir_ + "/" + name);
    shards_.push_back(info);
    buffer.clear();
    return;
  }
  // Wait (helping) until a slot is free, so memory stays bounded.
  pool_->help_until([&] { return in_flight_.load() < max_in_flight_; });
  std::shared_ptr<Pending> job = std::move(open_[split]);
  if (!job) job = std::make_shared<Pending>();
  job->buffer = std::make_unique<ColumnBuffer>(fresh_buffer());
  std::swap(*job->buffer, buffer);
  job->path = dir_ + "/" + name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job->slot = shards_.size();
    shards_.push_back(info);
  }
  job->datasets = shard_datasets(*job->buffer, options_);
  for (std::size_t c = 0; c < job->buffer->specs().size(); ++c) {
    const bool ragged = job->buffer->specs()[c].ragged;
    job->column_of.push_back(ragged ? -1 : static_cast<int>(c));
    if (ragged) job->column_of.push_back(-1);  // its offsets
  }
  ++in_flight_;
  for (std::size_t d = 0; d < job->datasets.size(); ++d) {
    const bool fixed = job->column_of[d] >= 0;
    for (std::size_t k = fixed ? job->early_chunks : 0; k < job->datasets[d].chunk_count(); ++k) {
      ++job->chunks_left;
      pool_->submit([this, job, d, k] {
        encode_chunk(job->datasets[d], k, options_.deflate_level);
        if (--job->chunks_left == 0) write_pending(job);
      });
    }
  }
  if (--job->chunks_left == 0) pool_->submit([this, job] { write_pending(job); });
}

// Writes a pending shard whose chunks are all encoded. HDF5 is a serial library: one file is
// written at a time; hashing it runs outside that lock.
void CorpusWriter::write_pending(const std::shared_ptr<Pending>& job) {
  static std::mutex hdf5;
  for (std::size_t d = 0; d < job->datasets.size(); ++d) {  // the chunks encoded early
    const int c = job->column_of[d];
    for (std::size_t k = 0; c >= 0 && k < job->early_chunks && k < job->datasets[d].chunks.size(); ++k) {
      job->datasets[d].chunks[k] = std::move(job->early[c][k]);
    }
  }
  job->early.clear();
  std::uint64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(hdf5);
    bytes = write_encoded_shard(job->path, job->datasets, options_, encoder_name_);
  }
  const std::string sha = core::sha256_file(job->path);
  job->datasets.clear();
  job->buffer->clear();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shards_[job->slot].bytes = bytes;
    shards_[job->slot].sha256 = sha;
    spare_.push_back(std::move(*job->buffer));
  }
  --in_flight_;
  pool_->wake();
}

void CorpusWriter::finish() {
  for (int s = 0; s < 3; ++s) flush(s);
  if (pool_) pool_->help_until([&] { return in_flight_.load() == 0; });
}

}  // namespace trafficfm::datasets

#include "datasets/loader/loader.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <stdexcept>

#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/sha256.h"
#include "datasets/corpus/shard_file.h"

namespace trafficfm::datasets {

std::string LoaderState::to_json() const {
  return core::JsonObject()
      .set("seed", seed)
      .set("epoch", epoch)
      .set("position", position)
      .set("corpus", data.corpus)
      .set("blocks", data.blocks)
      .set("window_blocks", data.window_blocks)
      .set("block_rows", data.block_rows)
      .set("shuffle", data.shuffle)
      .str();
}

LoaderState LoaderState::from_json(const std::string& text) {
  const auto j = core::JsonValue::parse(text);
  LoaderState s;
  s.seed = static_cast<std::uint64_t>(j["seed"].as_int());
  s.epoch = static_cast<std::uint64_t>(j["epoch"].as_int());
  s.position = static_cast<std::uint64_t>(j["position"].as_int());
  if (j.has("corpus")) {
    s.data.corpus = j["corpus"].as_string();
    s.data.blocks = j["blocks"].as_string();
    s.data.window_blocks = static_cast<std::uint64_t>(j["window_blocks"].as_int());
    s.data.block_rows = static_cast<std::uint64_t>(j["block_rows"].as_int());
    // Saved before --data.shuffle existed: the window order, the only one there was.
    s.data.shuffle = j.has("shuffle") ? j["shuffle"].as_string() : to_string(WindowShuffle::kWindow);
  }
  return s;
}

std::size_t Batch::column_index(const std::string& name) const {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return i;
  }
  throw std::out_of_range("batch has no column '" + name + "'");
}

const std::vector<std::uint64_t>& Batch::offsets_of(const std::string& name) const {
  const std::size_t c = column_index(name);
  if (!specs[c].ragged) throw std::logic_error("batch column '" + name + "' is not ragged");
  return offsets[c];
}

// One shard: its reader (opened lazily on the worker thread) and a small cache of decoded blocks.
struct Loader::ShardSource {
  std::string path;
  std::uint64_t rows = 0;
  std::unique_ptr<ShardReader> reader;
};

namespace {

// Decoded blocks, most recently used first; enough for two shuffle windows.
// One block's columns: values, and for a ragged column its offsets.
struct BlockData {
  std::vector<std::vector<std::uint8_t>> values;
  std::vector<std::vector<std::uint64_t>> offsets;
};

class BlockCache {
 public:
  explicit BlockCache(std::size_t capacity) : capacity_(capacity) {}
  const BlockData* find(std::uint32_t block) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == block) {
        entries_.splice(entries_.begin(), entries_, it);
        return &entries_.front().second;
      }
    }
    return nullptr;
  }
  BlockData& insert(std::uint32_t block) {
    if (entries_.size() >= capacity_) entries_.pop_back();
    entries_.emplace_front(block, BlockData());
    return entries_.front().second;
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::uint32_t, BlockData>> entries_;
};

thread_local std::unique_ptr<BlockCache> tls_cache;

}  // namespace

Loader::Loader(const LoaderOptions& options) : options_(options), manifest_(read_manifest(options.corpus)) {
  if (options_.dp_size < 1 || options_.dp_rank < 0 || options_.dp_rank >= options_.dp_size) {
    throw std::invalid_argument("loader: dp_rank must be in [0, dp_size)");
  }
  if (options_.batch_size == 0) throw std::invalid_argument("loader: batch size must be positive");
  for (std::size_t c = 0; c < manifest_.columns.size(); ++c) {
    const auto& spec = manifest_.columns[c];
    if (options_.columns.empty() ||
        std::find(options_.columns.begin(), options_.columns.end(), spec.name) != options_.columns.end()) {
      specs_.push_back(spec);
      column_index_.push_back(c);
    }
  }
  for (const auto& name : options_.columns) {
    if (std::none_of(specs_.begin(), specs_.end(), [&](const ColumnSpec& s) { return s.name == name; })) {
      throw std::invalid_argument(options_.corpus + ": corpus has no column '" + name + "'");
    }
  }
  if (!options_.size_column.empty()) {
    size_index_ = size_column_index(options_.size_column);
    balance_index_ =
        options_.balance_column.empty() ? size_index_ : size_column_index(options_.balance_column);
  }
  std::vector<ShardInfo> shard_infos;
  for (const auto& split : splits_of(options_.split)) {
    const auto infos = manifest_.shards_of(split);
    shard_infos.insert(shard_infos.end(), infos.begin(), infos.end());
  }
  const VerifiedShards verified =
      options_.verify == VerifyShards::kOnce ? read_verified_shards(options_.corpus) : VerifiedShards{};
  VerifiedShards checked;
  for (const auto& info : shard_infos) {
    const std::string path = options_.corpus + "/" + info.file;
    try {
      if (options_.verify != VerifyShards::kNever) {
        const ShardStamp stamp = stamp_of(path);
        const auto known = verified.find(info.file);
        if (known == verified.end() || !known->second.vouches_for(info.sha256, stamp)) {
          const std::int64_t hashed_at = wall_clock_ns();
          const std::string actual = core::sha256_file(path);
          ++shards_hashed_;
          if (actual != info.sha256) {
            throw std::runtime_error(path + ": SHA-256 " + actual + " does not match the manifest's " +
                                     info.sha256);
          }
          checked[info.file] = {actual, stamp, hashed_at};
        }
      }
      ShardReader check(path, manifest_.columns);
      if (check.rows() != info.samples) {
        throw std::runtime_error(path + ": holds " + std::to_string(check.rows()) +
                                 " samples, the manifest says " + std::to_string(info.samples));
      }
      if (!options_.size_column.empty()) {
        std::vector<std::int64_t> sizes, balance;
        read_sizes(check, sizes, balance);
        sizes_.insert(sizes_.end(), sizes.begin(), sizes.end());
        balance_.insert(balance_.end(), balance.begin(), balance.end());
      }
      auto source = std::make_unique<ShardSource>();
      source->path = path;
      source->rows = info.samples;
      const std::size_t block =
          options_.block_rows ? options_.block_rows : std::max<std::size_t>(1, check.chunk_rows());
      block_rows_ = std::max<std::uint64_t>(block_rows_, block);
      for (std::uint64_t first = 0; first < info.samples; first += block) {
        const auto rows = static_cast<std::uint32_t>(std::min<std::uint64_t>(block, info.samples - first));
        blocks_.push_back({static_cast<std::uint32_t>(shards_.size()), first, rows, total_samples_ + first});
      }
      total_samples_ += info.samples;
      shards_.push_back(std::move(source));
    } catch (const std::runtime_error& e) {
      if (!options_.skip_bad_shards) throw;
      ++skipped_shards_;
      core::log_warn("loader: skipping bad shard: ", e.what());
    }
  }
  if (!checked.empty() && !record_verified_shards(options_.corpus, checked)) {
    core::log_warn("loader: cannot write ", options_.corpus,
                   "/verified.json (read-only?): its shards are hashed again at the next start");
  }
  if (total_samples_ == 0) {
    throw std::runtime_error(options_.corpus + ": split '" + options_.split + "' has no samples");
  }
  if (!options_.subset.empty()) keep_only_subset();
  data_order_ = fingerprint();
  consumed_.seed = options_.seed;
  consumed_.data = data_order_;
  produced_ = consumed_;
  start_worker();
}

Loader::~Loader() { stop_worker(); }

std::vector<std::string> Loader::splits_of(const std::string& split) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (true) {
    const auto plus = split.find('+', at);
    const std::string name = split.substr(at, plus == std::string::npos ? std::string::npos : plus - at);
    if (std::find(std::begin(kSplitNames), std::end(kSplitNames), name) == std::end(kSplitNames) ||
        std::find(out.begin(), out.end(), name) != out.end()) {
      throw std::invalid_argument("loader: split '" + split +
                                  "' must name train, val or test, each at most once, joined by '+'");
    }
    out.push_back(name);
    if (plus == std::string::npos) return out;
    at = plus + 1;
  }
}

// The size column's index; throws unless it is an int64 scalar.
std::size_t Loader::size_column_index(const std::string& name) const {
  for (std::size_t i = 0; i < manifest_.columns.size(); ++i) {
    const auto& c = manifest_.columns[i];
    if (c.name == name && c.type == DType::kInt64 && !c.ragged && c.values_per_sample() == 1) return i;
  }
  throw std::invalid_argument(options_.corpus + ": batching by size needs an int64 scalar column '" + name +
                              "'");
}

// A shard's sizes and balance costs (8 bytes a sample each), from the reader that checked it.
void Loader::read_sizes(const ShardReader& reader, std::vector<std::int64_t>& sizes,
                        std::vector<std::int64_t>& balance) const {
  auto read = [&](std::size_t c, std::vector<std::int64_t>& out) {
    out.resize(reader.rows());
    reader.read(c, 0, reader.rows(), out.data());
    for (std::uint64_t i = 0; i < out.size(); ++i) {
      if (out[i] < 0) {
        throw std::runtime_error(reader.path() + ": sample " + std::to_string(i) + " has a negative '" +
                                 manifest_.columns[c].name + "' (corrupt shard?)");
      }
    }
  };
  read(size_index_, sizes);
  read(balance_index_, balance);
}

std::uint64_t Loader::sample_at(EpochOrder& order, std::uint64_t position) const {
  const auto where = order.at(position);
  return order.block(where.block).first_sample + where.row;
}

std::uint64_t Loader::step_end(EpochOrder& order, std::uint64_t begin) const {
  const std::uint64_t dp = static_cast<std::uint64_t>(options_.dp_size);
  if (options_.size_column.empty()) return std::min(total_samples_, begin + options_.batch_size * dp);
  const auto budget = static_cast<std::int64_t>(options_.batch_size * dp);
  std::uint64_t end = begin;
  std::int64_t used = 0;
  while (end < total_samples_) {
    const std::int64_t size = sizes_[sample_at(order, end)];
    if (end > begin && used + size > budget) break;
    used += size;
    ++end;
  }
  return end;
}

// Blocks become the runs of consecutive subset samples inside each block, so the epoch order
// (and everything built on it: positions, resume, dp shares) works on the subset unchanged.
void Loader::keep_only_subset() {
  const auto& subset = options_.subset;
  for (std::size_t i = 0; i < subset.size(); ++i) {
    if (subset[i] >= total_samples_ || (i > 0 && subset[i] <= subset[i - 1])) {
      throw std::invalid_argument(options_.corpus + ": sample subset of split '" + options_.split +
                                  "' must be sorted, without repeats, below " +
                                  std::to_string(total_samples_));
    }
  }
  std::vector<SampleBlock> runs;
  std::size_t next = 0;
  for (const auto& block : blocks_) {
    const std::uint64_t end = block.first_sample + block.rows;
    while (next < subset.size() && subset[next] < end) {
      const std::uint64_t first = subset[next];
      std::uint32_t rows = 1;
      while (next + rows < subset.size() && subset[next + rows] == first + rows && first + rows < end) ++rows;
      runs.push_back({block.shard, block.first_row + (first - block.first_sample), rows, first});
      next += rows;
    }
  }
  blocks_ = std::move(runs);
  total_samples_ = subset.size();
}

DataOrder Loader::fingerprint() const {
  core::Sha256 corpus, blocks;
  const std::string split = options_.split + "\n";
  corpus.update(split.data(), split.size());
  for (const auto& split_name : splits_of(options_.split)) {
    for (const auto& info : manifest_.shards_of(split_name)) {
      const std::string line = info.file + " " + info.sha256 + " " + std::to_string(info.samples) + "\n";
      corpus.update(line.data(), line.size());
    }
  }
  // The interleaved order is named in the digest; the window order is not, so a state saved
  // before --data.shuffle existed keeps its digest and resumes with --data.shuffle window.
  std::string window = std::to_string(options_.window_blocks) + "\n";
  if (options_.shuffle != WindowShuffle::kWindow) window += to_string(options_.shuffle) + "\n";
  blocks.update(window.data(), window.size());
  for (const auto& b : blocks_) {
    const std::uint64_t fields[4] = {b.shard, b.first_row, b.rows, b.first_sample};
    blocks.update(fields, sizeof fields);
  }
  return {corpus.hex_digest().substr(0, 16), blocks.hex_digest().substr(0, 16), options_.window_blocks,
          block_rows_, to_string(options_.shuffle)};
}

std::uint64_t Loader::steps_per_epoch() const {
  const std::uint64_t global = options_.batch_size * static_cast<std::uint64_t>(options_.dp_size);
  if (options_.size_column.empty()) return (total_samples_ + global - 1) / global;
  if (steps_per_epoch_ == 0) {
    EpochOrder order(blocks_, options_.seed, 0, options_.window_blocks, options_.shuffle);
    for (std::uint64_t at = 0; at < total_samples_; at = step_end(order, at)) ++steps_per_epoch_;
  }
  return steps_per_epoch_;
}

Batch Loader::assemble(std::uint64_t epoch, std::uint64_t step, std::uint64_t begin, std::uint64_t end) {
  if (!order_ || order_epoch_ != epoch) {
    order_ =
        std::make_unique<EpochOrder>(blocks_, options_.seed, epoch, options_.window_blocks, options_.shuffle);
    order_epoch_ = epoch;
  }
  if (!tls_cache) tls_cache = std::make_unique<BlockCache>(2 * options_.window_blocks + 2);
  // The step's positions ordered by lane (stable), so that a rank's share comes from its own
  // lanes' blocks (all lanes are 0 with the window order: the positions as they are). This
  // rank's share of that sequence: an even count, or by size a contiguous run of about a
  // dp_size-th of the step's balance cost (a sample goes to the rank its cost's middle falls in).
  // (Looked up in epoch order first: the order holds one window at a time.)
  const std::uint64_t n = end - begin;
  std::vector<EpochOrder::Where> share(n);
  for (std::uint64_t i = 0; i < n; ++i) share[i] = order_->at(begin + i);
  std::stable_sort(share.begin(), share.end(),
                   [](const EpochOrder::Where& a, const EpochOrder::Where& b) { return a.lane < b.lane; });
  std::uint64_t from = n * options_.dp_rank / options_.dp_size;
  std::uint64_t to = n * (options_.dp_rank + 1) / options_.dp_size;
  if (!options_.size_column.empty()) {
    std::vector<std::int64_t> cost(n);
    std::int64_t total = 0;
    for (std::uint64_t i = 0; i < n; ++i)
      total += cost[i] = balance_[order_->block(share[i].block).first_sample + share[i].row];
    if (total > 0) {
      from = to = 0;
      std::int64_t before = 0;
      for (std::uint64_t i = 0; i < n; ++i) {
        const double middle = (static_cast<double>(before) + 0.5 * static_cast<double>(cost[i])) / total;
        const int rank = std::min(options_.dp_size - 1, static_cast<int>(middle * options_.dp_size));
        if (rank < options_.dp_rank) from = to = i + 1;
        if (rank == options_.dp_rank) to = i + 1;
        before += cost[i];
      }
    }
  }
  Batch batch;
  if (from == to && n > 0 && options_.pad_empty_ranks) {
    from = 0;
    to = 1;
    batch.filler = true;
  }
  batch.specs = specs_;
  batch.role = options_.role.empty() ? options_.split : options_.role;
  batch.rows = static_cast<std::size_t>(to - from);
  batch.global_rows = static_cast<std::size_t>(n);
  batch.epoch = epoch;
  batch.step = step;
  batch.data.resize(specs_.size());
  batch.offsets.resize(specs_.size());
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (specs_[c].ragged) {
      batch.offsets[c].push_back(0);
    } else {
      batch.data[c].resize(batch.rows * specs_[c].bytes_per_sample());
    }
  }
  for (std::uint64_t i = from; i < to; ++i) {
    const auto& where = share[i];
    const SampleBlock& block = order_->block(where.block);
    const BlockData* cached = tls_cache->find(where.block);
    if (!cached) {
      ++blocks_read_;
      ShardSource& shard = *shards_[block.shard];
      if (!shard.reader) shard.reader = std::make_unique<ShardReader>(shard.path, manifest_.columns);
      auto& columns = tls_cache->insert(where.block);
      columns.values.resize(specs_.size());
      columns.offsets.resize(specs_.size());
      for (std::size_t c = 0; c < specs_.size(); ++c) {
        if (specs_[c].ragged) {
          shard.reader->read_ragged(column_index_[c], block.first_row, block.rows, columns.values[c],
                                    columns.offsets[c]);
          continue;
        }
        columns.values[c].resize(block.rows * specs_[c].bytes_per_sample());
        shard.reader->read(column_index_[c], block.first_row, block.rows, columns.values[c].data());
      }
      cached = &columns;
    }
    const std::size_t row = static_cast<std::size_t>(i - from);
    for (std::size_t c = 0; c < specs_.size(); ++c) {
      const std::size_t width = specs_[c].bytes_per_sample();
      if (specs_[c].ragged) {
        const auto& offsets = cached->offsets[c];
        const std::uint64_t first = offsets[where.row], last = offsets[where.row + 1];
        auto& out = batch.data[c];
        out.insert(out.end(), cached->values[c].begin() + first * width,
                   cached->values[c].begin() + last * width);
        batch.offsets[c].push_back(batch.offsets[c].back() + (last - first));
        continue;
      }
      std::memcpy(batch.data[c].data() + row * width, cached->values[c].data() + where.row * width, width);
    }
    batch.sample_index.push_back(block.first_sample + where.row);
  }
  return batch;
}

void Loader::worker_loop() {
  const std::uint64_t global = options_.batch_size * static_cast<std::uint64_t>(options_.dp_size);
  while (true) {
    LoaderState at;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock,
                    [&] { return stopping_ || ready_.size() < std::max<std::size_t>(1, options_.prefetch); });
      if (stopping_) return;
      at = produced_;
    }
    try {
      const std::uint64_t begin = at.position;
      if (!order_ || order_epoch_ != at.epoch) {
        order_ = std::make_unique<EpochOrder>(blocks_, options_.seed, at.epoch, options_.window_blocks,
                                              options_.shuffle);
        order_epoch_ = at.epoch;
      }
      const std::uint64_t end = step_end(*order_, begin);
      const std::uint64_t step = options_.size_column.empty() ? begin / global : produced_step_;
      Batch batch = assemble(at.epoch, step, begin, end);
      produced_step_ = end >= total_samples_ ? 0 : step + 1;
      LoaderState after = at;
      after.position = end;
      if (after.position >= total_samples_) {
        after.epoch += 1;
        after.position = 0;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      produced_ = after;
      ready_.emplace_back(std::move(batch), after);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      worker_error_ = e.what();
      stopping_ = true;
      changed_.notify_all();
      return;
    }
    changed_.notify_all();
  }
}

void Loader::start_worker() {
  stopping_ = false;
  worker_error_.clear();
  worker_ = std::thread([this] { worker_loop(); });
}

void Loader::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable()) worker_.join();
  ready_.clear();
}

Batch Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || !worker_error_.empty(); });
  if (ready_.empty()) throw std::runtime_error("loader: " + worker_error_);
  auto [batch, after] = std::move(ready_.front());
  ready_.pop_front();
  consumed_ = after;
  lock.unlock();
  changed_.notify_all();
  return std::move(batch);
}

void Loader::restore(const LoaderState& state) {
  if (state.seed != options_.seed) {
    throw std::invalid_argument("loader: state was saved with seed " + std::to_string(state.seed) +
                                ", this loader has " + std::to_string(options_.seed));
  }
  const DataOrder& saved = state.data;
  const DataOrder& now = data_order_;
  if (saved.recorded() && !saved.same_as(now)) {
    std::string what;
    if (saved.corpus != now.corpus)
      what += "corpus fingerprint " + saved.corpus + " (saved) vs " + now.corpus +
              " (now): the corpus was rebuilt or changed; ";
    if (saved.window_blocks != now.window_blocks)
      what += "--data.window-blocks " + std::to_string(saved.window_blocks) + " (saved) vs " +
              std::to_string(now.window_blocks) + " (now); ";
    if (!saved.shuffle.empty() && saved.shuffle != now.shuffle)
      what += "--data.shuffle " + saved.shuffle + " (saved) vs " + now.shuffle + " (now); ";
    if (saved.block_rows != now.block_rows)
      what += "block rows " + std::to_string(saved.block_rows) + " (saved) vs " +
              std::to_string(now.block_rows) + " (now); ";
    if (what.empty())
      what += "order fingerprint " + saved.blocks + " (saved) vs " + now.blocks +
              " (now): another sample subset or block layout; ";
    throw std::invalid_argument(
        options_.corpus + " split '" + options_.split +
        "': the saved data position belongs to another data order (" + what +
        "resume with the corpus and data settings of the original run, or start a new run)");
  }
  if (state.position > total_samples_) throw std::invalid_argument("loader: state position beyond the epoch");
  stop_worker();
  consumed_ = state;
  consumed_.data = data_order_;  // a state saved without it gets it from now on
  produced_ = consumed_;
  order_.reset();
  produced_step_ = 0;
  start_worker();
}

}  // namespace trafficfm::datasets

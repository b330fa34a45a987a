#include "datasets/corpus/corpus_writer.h"

#include <cstdio>

#include "core/rng.h"
#include "core/sha256.h"

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
                           bool dedup_across_splits)
    : dir_(std::move(dir)),
      encoder_name_(std::move(encoder_name)),
      target_bytes_(shard_target_bytes),
      options_(options),
      rank_(rank),
      world_(world) {
  const auto schema = with_common_columns(std::move(encoder_columns));
  for (int s = 0; s < 3; ++s) buffers_.emplace_back(schema);
  label_column_ = schema.size() - 2;
  dedup_ = dedup_across_splits;
}

bool CorpusWriter::commit_row(int split, std::int32_t label, std::uint64_t flow_hash) {
  ColumnBuffer& buffer = buffers_[split];
  if (dedup_) {
    // The row being completed: each encoder column's bytes since the last completed row.
    core::Sha256 content;
    for (std::size_t c = 0; c < label_column_; ++c) {
      const auto [bytes, size] = buffer.current_row(c);
      const std::uint64_t length = size;  // a ragged row's length is part of its content
      if (buffer.specs()[c].ragged) content.update(&length, sizeof length);
      content.update(bytes, size);
    }
    const auto [it, fresh] = first_split_.emplace(content.hex_digest().substr(0, 32), split);
    if (!fresh && it->second != split) {
      buffer.abandon_row();
      return false;
    }
  }
  buffer.put(label_column_, label);
  buffer.put(label_column_ + 1, flow_hash);
  buffer.end_row();
  if (buffer.bytes() >= target_bytes_) flush(split);
  return true;
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
  info.bytes = write_shard(dir_ + "/" + name, buffer, options_, encoder_name_);
  info.sha256 = core::sha256_file(dir_ + "/" + name);
  shards_.push_back(info);
  buffer.clear();
}

void CorpusWriter::finish() {
  for (int s = 0; s < 3; ++s) flush(s);
}

}  // namespace trafficfm::datasets

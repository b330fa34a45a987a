#include "datasets/prep/prep.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "core/json_value.h"
#include "core/log.h"
#include "datasets/capture/capture_reader.h"
#include "datasets/corpus/corpus_writer.h"
#include "datasets/flowlogs/flow_log_reader.h"
#include "datasets/prep/flow_stage.h"
#include "datasets/prep/packet_batches.h"

namespace trafficfm::datasets {
namespace {

std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }
std::string parent_name(const std::string& path) {
  return std::filesystem::path(path).parent_path().filename().string();
}

// Everything one rank needs while reading its files.
class RankPrep {
 public:
  RankPrep(const PrepOptions& options, LabelTable* labels)
      : options_(options),
        labels_(labels),
        encoder_(make_encoder(options.encoder, options.encoder_options)),
        writer_(options.out_dir, encoder_->name(), encoder_->schema(), options.shard_bytes,
                options.shard_options, options.rank, options.world,
                // A graph is not one flow's encoding: copies are a per-flow notion.
                options.dedup_across_splits && !encoder_->whole_file(), options.threads) {
    flow_options_ = options.flow_options;
    encoder_->adjust(flow_options_);
  }

  void file(const std::string& path) {
    ++result_.counts.files;
    const FlowLogFormat log_format =
        options_.encoder == "flows" || encoder_->whole_file() ? detect_flow_log(path) : FlowLogFormat::kNone;
    try {
      if (log_format != FlowLogFormat::kNone) {
        flow_log(path, log_format);
      } else {
        capture(path);
      }
      if (encoder_->whole_file()) end_file(path);
    } catch (const std::exception& e) {
      if (encoder_->whole_file()) encoder_->abandon_file();
      ++result_.counts.files_failed;
      result_.counts.problems.push_back(std::string("failed: ") + e.what());
      core::log_warn("prep: skipping ", e.what());
    }
  }

  PrepResult finish() {
    writer_.finish();
    if (labels_ && labels_->rows() > 0) {
      for (const auto& [file, match] : labels_->match_report()) {
        result_.counts.label_rows += match.rows;
        result_.counts.label_rows_matched += match.matched;
      }
    }
    result_.shards = writer_.shards();
    result_.counts.learned = encoder_->learned();
    return std::move(result_);
  }

 private:
  int label_for(const std::string& path, const FlowKey& key, const std::string& log_label) {
    if (!labels_) return -1;
    if (labels_->rows() > 0) return labels_->lookup(base_name(path), key);
    if (options_.label_from == "dirname") return labels_->id_of(parent_name(path));
    if (options_.label_from == "filename") return labels_->id_of(base_name(path));
    return log_label.empty() ? -1 : labels_->id_of(log_label);
  }

  // Train, val or test: by the flow's 5-tuple, or by its capture file with --split-by file.
  int split_of(const std::string& path, const FlowKey& key) const {
    const std::uint64_t split_hash = options_.split_by == "file" ? text_hash(base_name(path)) : key.hash();
    return choose_split(split_hash, options_.val_fraction, options_.test_fraction);
  }

  // Completes the row just encoded into `split`'s buffer.
  void store(int split, const FlowKey& key, int label) {
    if (!writer_.commit_row(split, label, key.hash())) {
      ++result_.counts.duplicates_dropped;
      return;
    }
    const std::string name = label >= 0 && labels_ ? labels_->names()[label] : "unlabeled";
    ++result_.counts.samples[std::string(kSplitNames[split]) + "/" + name];
  }

  // A whole-file encoder's samples of `path`: split by the group hash it gives, as flows are.
  void end_file(const std::string& path) {
    FileSink sink;
    sink.split_of = [&](std::uint64_t group) {
      const std::uint64_t hash = options_.split_by == "file" ? text_hash(base_name(path)) : group;
      return choose_split(hash, options_.val_fraction, options_.test_fraction);
    };
    sink.by_time = options_.split_by == "time";
    sink.split_at = [&](double u) {
      if (u >= 1.0 - options_.test_fraction) return 2;
      if (u >= 1.0 - options_.test_fraction - options_.val_fraction) return 1;
      return 0;
    };
    sink.buffer = [&](int split) -> ColumnBuffer& { return writer_.row_buffer(split); };
    sink.commit = [&](int split, std::uint64_t hash) {
      if (!writer_.commit_row(split, -1, hash)) {
        ++result_.counts.duplicates_dropped;
        return;
      }
      ++result_.counts.samples[std::string(kSplitNames[split]) + "/" + encoder_->name()];
    };
    encoder_->end_file(path, sink);
  }

  void capture(const std::string& path) {
    CaptureReader reader(path);
    const int link = reader.link_type();
    const bool supported = link_type_supported(link);
    ++result_.counts.link_types["DLT " + std::to_string(link) + (supported ? "" : " (unsupported)")];
    // From 2 threads on, the flows a table emits are encoded on a thread of their own, and the
    // packets are read and decoded ahead on another: the table, the encoders and the reading
    // each take a share of one capture.
    FlowStage encode(
        [&](Flow&& flow) {
          ++result_.counts.flows;
          const int split = split_of(path, flow.key);
          if (encoder_->whole_file()) {
            encoder_->collect(flow_record_of(flow), label_for(path, flow.key, ""), split, flow.key.hash());
            return;
          }
          ColumnBuffer& buffer = writer_.row_buffer(split);
          if (!encoder_->encode(flow, buffer)) {
            buffer.abandon_row();
            return;
          }
          store(split, flow.key, label_for(path, flow.key, ""));
        },
        options_.threads >= 2);
    FlowTable table(flow_options_, [&](Flow&& flow) { encode.push(std::move(flow)); });
    PacketBatches batches(reader, link, options_.threads >= 2);
    while (const PacketBatch* batch = batches.next()) {
      result_.counts.packets += batch->packets;
      result_.counts.bytes += batch->wire_bytes;
      for (std::size_t s = 0; s < batch->decode.size(); ++s) result_.counts.decode[s] += batch->decode[s];
      for (const PacketView& view : batch->views) table.add(view, path, link);
    }
    table.flush();
    encode.drain();
    if (reader.truncated()) {
      ++result_.counts.files_truncated;
      const std::string line = path + ": truncated at byte " + std::to_string(reader.truncation_offset()) +
                               " (" + reader.truncation_message() + "); kept what was read";
      result_.counts.problems.push_back(line);
      core::log_warn("prep: ", line);
    }
  }

  void flow_log(const std::string& path, FlowLogFormat format) {
    ++result_.counts.link_types[format == FlowLogFormat::kZeekConn ? "zeek conn.log" : "netflow csv"];
    const std::string label_column = options_.flow_log_label_column.empty()
                                         ? default_flow_log_label_column(format)
                                         : options_.flow_log_label_column;
    const auto counts =
        read_flow_log(path, format, label_column, [&](const FlowRecord& r, const std::string& label) {
          ++result_.counts.flows;
          const FlowKey key = FlowKey::of(r.src, r.src_port, r.dst, r.dst_port, r.protocol);
          const int split = split_of(path, key);
          if (encoder_->whole_file()) {
            encoder_->collect(r, label_for(path, key, label), split, key.hash());
            return;
          }
          append_flow_record(r, options_.encoder_options.pseudonym_key, writer_.row_buffer(split));
          store(split, key, label_for(path, key, label));
        });
    result_.counts.flow_log_rows += counts.rows;
    result_.counts.bad_flow_log_rows += counts.bad_rows;
  }

  const PrepOptions& options_;
  LabelTable* labels_;
  std::unique_ptr<Encoder> encoder_;
  CorpusWriter writer_;
  FlowTableOptions flow_options_;
  PrepResult result_;
};

}  // namespace

void PrepCounts::merge(const PrepCounts& o) {
  files += o.files;
  files_failed += o.files_failed;
  files_truncated += o.files_truncated;
  packets += o.packets;
  bytes += o.bytes;
  flows += o.flows;
  flow_log_rows += o.flow_log_rows;
  bad_flow_log_rows += o.bad_flow_log_rows;
  duplicates_dropped += o.duplicates_dropped;
  for (std::size_t i = 0; i < decode.size(); ++i) decode[i] += o.decode[i];
  for (const auto& [k, v] : o.link_types) link_types[k] += v;
  for (const auto& [k, v] : o.samples) samples[k] += v;
  problems.insert(problems.end(), o.problems.begin(), o.problems.end());
  label_rows = std::max(label_rows, o.label_rows);
  label_rows_matched += o.label_rows_matched;
  for (const auto& [name, values] : o.learned) {
    auto& mine = learned[name];
    if (mine.empty()) {
      mine = values;
      continue;
    }
    const bool is_min = name.size() >= 4 && name.compare(name.size() - 4, 4, "_min") == 0;
    for (std::size_t i = 0; i < mine.size() && i < values.size(); ++i)
      mine[i] = is_min ? std::min(mine[i], values[i]) : std::max(mine[i], values[i]);
  }
}

core::JsonObject PrepCounts::to_json() const {
  core::JsonObject decoded, links, per_split, learned_json;
  for (const auto& [k, v] : learned) learned_json.set(k, v);
  for (int i = 0; i < static_cast<int>(DecodeStatus::kCount); ++i) {
    decoded.set(decode_status_name(static_cast<DecodeStatus>(i)), decode[i]);
  }
  for (const auto& [k, v] : link_types) links.set(k, v);
  for (const auto& [k, v] : samples) per_split.set(k, v);
  return core::JsonObject()
      .set("files", files)
      .set("files_failed", files_failed)
      .set("files_truncated", files_truncated)
      .set("packets", packets)
      .set("bytes", bytes)
      .set("flows", flows)
      .set("flow_log_rows", flow_log_rows)
      .set("bad_flow_log_rows", bad_flow_log_rows)
      .set("duplicates_dropped", duplicates_dropped)
      .set("packets_by_decode_status", decoded)
      .set("files_by_link_type", links)
      .set("samples_by_split_and_label", per_split)
      .set("label_rows", label_rows)
      .set("label_rows_matched", label_rows_matched)
      .set("learned", learned_json)
      .set("problems", problems);
}

PrepCounts PrepCounts::from_json(const std::string& text) {
  const auto j = core::JsonValue::parse(text);
  PrepCounts c;
  auto u = [](const core::JsonValue& v) { return static_cast<std::uint64_t>(v.as_int()); };
  c.files = u(j["files"]);
  c.files_failed = u(j["files_failed"]);
  c.files_truncated = u(j["files_truncated"]);
  c.packets = u(j["packets"]);
  c.bytes = u(j["bytes"]);
  c.flows = u(j["flows"]);
  c.flow_log_rows = u(j["flow_log_rows"]);
  c.bad_flow_log_rows = u(j["bad_flow_log_rows"]);
  if (j.has("duplicates_dropped")) c.duplicates_dropped = u(j["duplicates_dropped"]);
  for (int i = 0; i < static_cast<int>(DecodeStatus::kCount); ++i) {
    const char* name = decode_status_name(static_cast<DecodeStatus>(i));
    if (j["packets_by_decode_status"].has(name)) c.decode[i] = u(j["packets_by_decode_status"][name]);
  }
  for (const auto& [k, v] : j["files_by_link_type"].as_object()) c.link_types[k] = u(v);
  for (const auto& [k, v] : j["samples_by_split_and_label"].as_object()) c.samples[k] = u(v);
  for (const auto& p : j["problems"].as_array()) c.problems.push_back(p.as_string());
  c.label_rows = u(j["label_rows"]);
  c.label_rows_matched = u(j["label_rows_matched"]);
  if (j.has("learned")) {
    for (const auto& [k, v] : j["learned"].as_object()) {
      auto& out = c.learned[k];
      for (const auto& x : v.as_array()) out.push_back(x.as_number());
    }
  }
  return c;
}

std::string result_to_json(const PrepResult& r) {
  return core::JsonObject()
      .set("counts", r.counts.to_json())
      .set_raw("shards", shards_to_json(r.shards))
      .str();
}

PrepResult result_from_json(const std::string& text) {
  const auto j = core::JsonValue::parse(text);
  PrepResult r;
  // Re-serialize the counts object through its own parser.
  const auto at = text.find("\"counts\": ");
  const auto end = text.find(", \"shards\": ");
  r.counts = PrepCounts::from_json(text.substr(at + 10, end - at - 10));
  for (const auto& s : j["shards"].as_array()) r.shards.push_back(shard_from_json(s));
  return r;
}

std::vector<std::string> divide_files(const std::vector<std::string>& files, int rank, int world) {
  std::vector<std::pair<std::uint64_t, std::size_t>> sized;
  for (std::size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    sized.emplace_back(stat(files[i].c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0, i);
  }
  std::stable_sort(sized.begin(), sized.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::uint64_t> load(world, 0);
  std::vector<std::size_t> mine;
  for (const auto& [size, index] : sized) {
    const int target = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[target] += size + 1;
    if (target == rank) mine.push_back(index);
  }
  std::sort(mine.begin(), mine.end());
  std::vector<std::string> out;
  for (std::size_t i : mine) out.push_back(files[i]);
  return out;
}

PrepResult prep_files(const PrepOptions& options, const std::vector<std::string>& files, LabelTable* labels,
                      const std::function<void(const std::string&)>& on_file) {
  RankPrep prep(options, labels);
  for (const auto& f : files) {
    prep.file(f);
    if (on_file) on_file(f);
  }
  return prep.finish();
}

Manifest merge_results(const PrepOptions& options, const std::vector<PrepResult>& ranks,
                       const std::vector<std::string>& label_names) {
  PrepCounts total;
  Manifest m;
  for (const auto& r : ranks) {
    total.merge(r.counts);
    m.shards.insert(m.shards.end(), r.shards.begin(), r.shards.end());
  }
  std::sort(m.shards.begin(), m.shards.end(),
            [](const ShardInfo& a, const ShardInfo& b) { return a.file < b.file; });
  const auto encoder = make_encoder(options.encoder, options.encoder_options);
  m.encoder = encoder->name();
  auto settings = encoder->settings();
  // Learned ranges, for the model: a statistic the train split never gave is [0, 0].
  for (auto [name, values] : total.learned) {
    const bool is_min = name.size() >= 4 && name.compare(name.size() - 4, 4, "_min") == 0;
    for (auto& v : values) {
      if (is_min ? v > 1e300 : v < -1e300) v = 0;
    }
    settings.set(name, values);
  }
  total.learned.clear();  // in the settings, not repeated in the summary
  m.encoder_settings_json =
      settings.set("split_by", options.split_by)
          .set("dedup_across_splits", options.dedup_across_splits && !encoder->whole_file())
          .set("val_fraction", options.val_fraction)
          .set("test_fraction", options.test_fraction)
          .set("idle_timeout_s", options.flow_options.idle_timeout_s)
          .set("active_timeout_s", options.flow_options.active_timeout_s)
          .str();
  CorpusWriter schema_only(options.out_dir, m.encoder, encoder->schema(), 1, options.shard_options, 0, 1);
  m.columns = schema_only.schema();
  m.label_names = label_names;
  m.summary_json = total.to_json().str();
  write_manifest(options.out_dir, m);
  return m;
}

std::string format_summary(const Manifest& m) {
  const auto s = core::JsonValue::parse(m.summary_json);
  std::ostringstream out;
  auto u = [&](const char* key) {
    return s.has(key) ? static_cast<unsigned long long>(s[key].as_int()) : 0ULL;
  };
  out << "corpus: encoder " << m.encoder << ", " << m.shards.size() << " shards, " << m.label_names.size()
      << " labels\n";
  out << "input:  " << u("files") << " files (" << u("files_failed") << " failed, " << u("files_truncated")
      << " truncated), " << u("packets") << " packets, " << u("bytes") << " bytes";
  if (u("flow_log_rows"))
    out << ", " << u("flow_log_rows") << " flow-log rows (" << u("bad_flow_log_rows") << " bad)";
  out << "\nflows:  " << u("flows") << "\n";
  if (u("label_rows")) {
    out << "labels: " << u("label_rows_matched") << " of " << u("label_rows")
        << " TCP/UDP label rows matched a flow (" << (100.0 * u("label_rows_matched") / u("label_rows"))
        << "%)\n";
  }
  out << "samples: train " << m.samples("train") << ", val " << m.samples("val") << ", test "
      << m.samples("test");
  if (s.has("duplicates_dropped")) {
    out << "; " << u("duplicates_dropped") << " dropped as identical to a sample of another split";
  }
  out << "\n";
  if (s.has("files_by_link_type")) {
    out << "files by link type:";
    for (const auto& [k, v] : s["files_by_link_type"].as_object()) out << "  " << k << ": " << v.as_int();
    out << "\n";
  }
  if (s.has("packets_by_decode_status")) {
    out << "packets skipped by reason:";
    for (const auto& [k, v] : s["packets_by_decode_status"].as_object()) {
      if (k != "ok" && v.as_int() > 0) out << "  " << k << ": " << v.as_int();
    }
    out << "\n";
  }
  if (s.has("samples_by_split_and_label")) {
    out << "samples by split/label:\n";
    for (const auto& [k, v] : s["samples_by_split_and_label"].as_object())
      out << "  " << k << ": " << v.as_int() << "\n";
  }
  if (s.has("problems")) {
    for (const auto& p : s["problems"].as_array()) out << "problem: " << p.as_string() << "\n";
  }
  return out.str();
}

}  // namespace trafficfm::datasets

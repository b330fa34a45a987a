// trafficfm inspect CORPUS [--sample N] [--split S]
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "core/errors.h"
#include "core/json_value.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "datasets/encoders/subword_tokenizer.h"
#include "datasets/prep/prep.h"
#include "launch/common_options.h"
#include "launch/subcommand.h"

namespace trafficfm::launch {
namespace {

namespace po = core::po;
using datasets::ColumnSpec;
using datasets::DType;

// One sample's columns, each as raw bytes.
struct SampleRow {
  std::vector<ColumnSpec> specs;
  std::vector<std::vector<std::uint8_t>> data;  // a ragged column: the sample's elements
  std::vector<std::uint64_t> elements;          // per column: elements (1 when fixed)
  template <typename T>
  const T* column(const std::string& name) const {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].name == name) return reinterpret_cast<const T*>(data[i].data());
    }
    throw std::runtime_error("corpus has no column '" + name + "'");
  }
};

void print_hex(const std::uint8_t* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    std::printf("%02x%s", bytes[i], (i + 1) % 40 == 0 && i + 1 < n ? "\n           " : "");
  std::printf("\n");
}

void print_mmae(const SampleRow& row, const core::JsonValue& settings) {
  const auto* bytes = row.column<std::uint8_t>("bytes");
  const auto* lengths = row.column<std::int32_t>("pkt_len");
  const auto* times = row.column<float>("pkt_time");
  const auto* dirs = row.column<std::int8_t>("pkt_dir");
  const auto* stats = row.column<float>("stats");
  for (int p = 0; p < 5; ++p) {
    if (dirs[p] == 0) {
      std::printf("packet %d: (absent, zero rows)\n", p);
      continue;
    }
    std::printf("packet %d: %s len %d at +%.6f s\n  header:  ", p,
                dirs[p] > 0 ? "client->server" : "server->client", lengths[p], times[p]);
    print_hex(bytes + p * 320, 80);
    std::printf("  payload: ");
    print_hex(bytes + p * 320 + 80, 240);
  }
  const auto& names = settings["statistics"].as_array();
  std::printf("statistics:\n");
  for (std::size_t i = 0; i < names.size(); ++i)
    std::printf("  %-20s %g\n", names[i].as_string().c_str(), stats[i]);
}

void print_lens(const SampleRow& row, const datasets::SubwordTokenizer* spm) {
  const auto* tokens = row.column<std::int32_t>("tokens");
  const auto* segments = row.column<std::int8_t>("segment");
  const auto* packets = row.column<std::int8_t>("packet_index");
  const int length = *row.column<std::int32_t>("length");
  std::printf("tokens: %d (packets %d)\n", length, *row.column<std::int32_t>("packets"));
  int last_segment = -1, last_packet = -1;
  for (int i = 0; i < length; ++i) {
    if (packets[i] != last_packet) std::printf("\n  packet %d:", packets[i]);
    if (segments[i] != last_segment && segments[i] != 0)
      std::printf(segments[i] == 1 ? "\n    [header] " : "\n    [payload] ");
    last_segment = segments[i];
    last_packet = packets[i];
    const bool special = tokens[i] < 6;
    std::printf(" %s", spm && !special ? spm->piece(tokens[i]).c_str()
                                       : datasets::lens_vocab::token_text(tokens[i]).c_str());
  }
  std::printf("\n");
}

void print_flows(const SampleRow& row, const core::JsonValue& settings) {
  std::printf("start %.6f end %.6f protocol %d ipv%d\n", *row.column<double>("start"),
              *row.column<double>("end"), *row.column<std::int32_t>("protocol"),
              *row.column<std::int32_t>("ip_version"));
  std::printf("src host %016llx port %d -> dst host %016llx port %d\n",
              static_cast<unsigned long long>(*row.column<std::uint64_t>("src_host")),
              *row.column<std::int32_t>("src_port"),
              static_cast<unsigned long long>(*row.column<std::uint64_t>("dst_host")),
              *row.column<std::int32_t>("dst_port"));
  const auto* stats = row.column<float>("stats");
  const auto& names = settings["statistics"].as_array();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!std::isnan(stats[i])) std::printf("  %-22s %g\n", names[i].as_string().c_str(), stats[i]);
  }
}

// A graph sample: its size, nodes by type and edges by type (docs/graph.md).
void print_graph(const SampleRow& row, const core::JsonValue& settings) {
  auto count = [&](const std::string& name) {
    for (std::size_t i = 0; i < row.specs.size(); ++i) {
      if (row.specs[i].name == name) return static_cast<unsigned long long>(row.elements[i]);
    }
    throw std::runtime_error("corpus has no column '" + name + "'");
  };
  const auto* part = row.column<std::int32_t>("part");
  std::printf("graph: %lld nodes (%llu flow, %llu ip), %llu edges; part %d of %d\n",
              static_cast<long long>(*row.column<std::int64_t>("nodes")), count("flow_stats"),
              count("ip_slice"), count("edges"), part[0], part[1]);
  std::map<int, unsigned long long> by_type;
  const auto* types = row.column<std::uint8_t>("edge_type");
  for (unsigned long long e = 0; e < count("edge_type"); ++e) ++by_type[types[e]];
  const auto& names = settings["edge_types"].as_array();
  for (const auto& [type, n] : by_type) {
    std::printf("  %-9s %llu edges\n",
                type < static_cast<int>(names.size()) ? names[type].as_string().c_str() : "?", n);
  }
  unsigned long long halo = 0, labeled = 0;
  const auto* flow_halo = row.column<std::uint8_t>("flow_halo");
  const auto* flow_label = row.column<std::int32_t>("flow_label");
  for (unsigned long long i = 0; i < count("flow_halo"); ++i)
    halo += flow_halo[i], labeled += flow_label[i] >= 0;
  std::printf("  flow nodes: %llu labeled, %llu halo\n", labeled, halo);
}

}  // namespace

int run_inspect(const std::vector<std::string>& args) {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("corpus", po::value<std::string>()->required(),
                        "corpus directory (holds manifest.json)")(
      "sample", po::value<long long>()->default_value(-1), "decode sample N of --split readably")(
      "split", po::value<std::string>()->default_value("train"), "train | val | test");
  add_logging_options(options);
  po::positional_options_description positional;
  positional.add("corpus", 1);
  const auto values = core::parse_options("trafficfm inspect", options, args, &positional);
  if (values.count("help")) {
    print_help("usage: trafficfm inspect CORPUS [--sample N] [--split train|val|test]", options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string dir = values["corpus"].as<std::string>();
  const auto manifest = datasets::read_manifest(dir);
  std::printf("%s", datasets::format_summary(manifest).c_str());
  const long long sample = values["sample"].as<long long>();
  if (sample < 0) return core::kExitOk;

  const std::string split = values["split"].as<std::string>();
  long long index = sample;
  for (const auto& shard : manifest.shards_of(split)) {
    if (index >= static_cast<long long>(shard.samples)) {
      index -= static_cast<long long>(shard.samples);
      continue;
    }
    datasets::ShardReader reader(dir + "/" + shard.file, manifest.columns);
    SampleRow row;
    row.specs = manifest.columns;
    for (std::size_t c = 0; c < manifest.columns.size(); ++c) {
      if (manifest.columns[c].ragged) {
        std::vector<std::uint64_t> offsets;
        row.data.emplace_back();
        reader.read_ragged(c, static_cast<std::uint64_t>(index), 1, row.data.back(), offsets);
        row.elements.push_back(offsets.back());
        continue;
      }
      row.data.emplace_back(manifest.columns[c].bytes_per_sample());
      reader.read(c, static_cast<std::uint64_t>(index), 1, row.data.back().data());
      row.elements.push_back(1);
    }
    const int label = *row.column<std::int32_t>("label");
    std::printf("\nsample %lld of %s (%s row %lld): label %d (%s), flow hash %016llx\n", sample,
                split.c_str(), shard.file.c_str(), index, label,
                label >= 0 && label < static_cast<int>(manifest.label_names.size())
                    ? manifest.label_names[label].c_str()
                    : "unlabeled",
                static_cast<unsigned long long>(*row.column<std::uint64_t>("flow_hash")));
    const auto settings = core::JsonValue::parse(manifest.encoder_settings_json);
    if (manifest.encoder == "mmae")
      print_mmae(row, settings);
    else if (manifest.encoder == "lens") {
      std::unique_ptr<datasets::SubwordTokenizer> spm;
      if (settings["tokenizer"].as_string() == "spm")
        spm = datasets::load_spm_tokenizer(dir + "/tokenizer.model");
      print_lens(row, spm.get());
    } else if (manifest.encoder == "flows") {
      print_flows(row, settings);
    } else if (manifest.encoder == "graph") {
      print_graph(row, settings);
    }
    return core::kExitOk;
  }
  throw core::UsageError("trafficfm inspect: --sample " + std::to_string(sample) + " is beyond the " +
                         std::to_string(manifest.samples(split)) + " samples of split " + split);
}

}  // namespace trafficfm::launch

// trafficfm synth --out DIR --flows N --hosts H --seed S
#include <cstdio>
#include <sstream>

#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "datasets/synth/generator.h"
#include "launch/common_options.h"
#include "launch/subcommand.h"

namespace trafficfm::launch {
namespace {

std::vector<double> parse_weights(const std::string& text) {
  std::vector<double> weights;
  if (text.empty()) return weights;
  for (const auto& item : core::split_list(text)) {
    try {
      std::size_t used = 0;
      weights.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw core::UsageError("trafficfm synth: --class-weights: '" + item + "' is not a number");
    }
  }
  const std::size_t classes = datasets::synth::class_names().size();
  if (weights.size() != classes) {
    throw core::UsageError("trafficfm synth: --class-weights needs " + std::to_string(classes) +
                           " comma-separated weights, got " + std::to_string(weights.size()));
  }
  return weights;
}

}  // namespace

int run_synth(const std::vector<std::string>& args) {
  namespace po = core::po;
  std::string class_list;
  for (const auto& name : datasets::synth::class_names())
    class_list += (class_list.empty() ? "" : ",") + name;

  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("out", po::value<std::string>()->required(), "output directory (created if missing)")(
      "flows", po::value<std::uint64_t>()->default_value(1000), "number of flows to generate")(
      "hosts", po::value<std::uint32_t>()->default_value(50),
      "number of distinct hosts (a quarter are servers; at least 2)")(
      "seed", po::value<std::uint64_t>()->default_value(1),
      "random seed; the output is a pure function of it")(
      "flows-per-file", po::value<std::uint64_t>()->default_value(2000), "flows per pcap file")(
      "rate", po::value<double>()->default_value(50.0), "mean new flows per second (Poisson arrivals)")(
      "class-weights", po::value<std::string>()->default_value(""),
      ("relative share of each class, comma-separated in the order " + class_list +
       " (empty: 0.15,0.33,0.25,0.07,0.10,0.10)")
          .c_str());
  add_logging_options(options);

  const auto values = core::parse_options("trafficfm synth", options, args);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm synth --out DIR [--flows N] [--hosts H] [--seed S] [options]\n\n"
        "Writes DIR/synth-NNNNN.pcap (Ethernet, IPv4) with HTTP/1.1, TLS 1.3, DNS, SSH, QUIC-like\n"
        "and port-scan flows between many hosts, and DIR/labels.csv (one row per flow).",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);

  datasets::synth::SynthOptions synth;
  synth.out_dir = values["out"].as<std::string>();
  synth.flows = values["flows"].as<std::uint64_t>();
  synth.hosts = values["hosts"].as<std::uint32_t>();
  synth.seed = values["seed"].as<std::uint64_t>();
  synth.flows_per_file = values["flows-per-file"].as<std::uint64_t>();
  synth.flows_per_second = values["rate"].as<double>();
  synth.class_weights = parse_weights(values["class-weights"].as<std::string>());
  if (synth.hosts < 2) throw core::UsageError("trafficfm synth: --hosts must be at least 2");
  if (synth.flows_per_file == 0) throw core::UsageError("trafficfm synth: --flows-per-file must be positive");
  if (!(synth.flows_per_second > 0)) throw core::UsageError("trafficfm synth: --rate must be positive");

  core::log_info("synth: ", synth.flows, " flows between ", synth.hosts, " hosts, seed ", synth.seed, " -> ",
                 synth.out_dir);
  core::Progress progress("synth", synth.flows, "flows");
  const auto summary = datasets::synth::generate_corpus(synth, [&] { progress.advance(); });
  progress.finish();

  std::printf("wrote %zu pcap files + labels.csv to %s: %llu packets, %.1f MB, %.0f s of traffic\n",
              summary.files.size() - 1, synth.out_dir.c_str(),
              static_cast<unsigned long long>(summary.packets), summary.bytes / 1e6, summary.capture_seconds);
  std::printf("%-8s %10s %12s %14s\n", "class", "flows", "packets", "bytes");
  for (const auto& name : datasets::synth::class_names()) {
    const auto it = summary.per_class.find(name);
    const datasets::synth::ClassTotals totals =
        it == summary.per_class.end() ? datasets::synth::ClassTotals{} : it->second;
    std::printf("%-8s %10llu %12llu %14llu\n", name.c_str(), static_cast<unsigned long long>(totals.flows),
                static_cast<unsigned long long>(totals.packets),
                static_cast<unsigned long long>(totals.bytes));
  }
  return core::kExitOk;
}

}  // namespace trafficfm::launch

// `trafficfm synth`: a deterministic corpus of real pcap files with generated but
// protocol-correct traffic between many hosts, plus labels.csv (one row per flow). This is what
// the demo and the tests run on, so a fresh machine needs no data.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace trafficfm::datasets::synth {

// The traffic classes, in label-id order.
const std::vector<std::string>& class_names();

struct SynthOptions {
  std::string out_dir;
  std::uint64_t flows = 1000;
  std::uint32_t hosts = 50;
  std::uint64_t seed = 1;
  std::uint64_t flows_per_file = 2000;  // flows are split over files of this many flows
  double flows_per_second = 50.0;       // mean arrival rate of new flows (Poisson)
  std::vector<double> class_weights;    // empty = defaults; else one weight per class
};

struct ClassTotals {
  std::uint64_t flows = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
};

struct SynthSummary {
  std::vector<std::string> files;  // pcap files written, then labels.csv
  std::map<std::string, ClassTotals> per_class;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  double capture_seconds = 0;  // time from the first to the last packet
};

// Called after each flow is generated (for progress reporting).
using FlowCallback = std::function<void()>;

// Writes OUT/synth-NNNNN.pcap and OUT/labels.csv. Every file is written to a temporary name
// and renamed when complete. Throws std::invalid_argument for unusable options.
SynthSummary generate_corpus(const SynthOptions& options, const FlowCallback& on_flow = {});

// labels.csv columns, documented in docs/data-formats.md.
extern const char* const kLabelsHeader;

}  // namespace trafficfm::datasets::synth

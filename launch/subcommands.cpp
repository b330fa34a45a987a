#include "launch/subcommand.h"

namespace trafficfm::launch {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> all = {
      {"synth", "write a synthetic, protocol-correct pcap corpus with labels (the demo's data)", run_synth},
  };
  return all;
}

}  // namespace trafficfm::launch

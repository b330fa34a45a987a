#include "launch/subcommand.h"

namespace trafficfm::launch {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> all = {
      {"synth", "write a synthetic, protocol-correct pcap corpus with labels (the demo's data)", run_synth},
      {"prep", "captures and flow logs -> sharded HDF5 corpus (mmae | lens | flows encodings)", run_prep},
      {"inspect", "summarize a corpus from its manifest; --sample N decodes one sample", run_inspect},
  };
  return all;
}

}  // namespace trafficfm::launch

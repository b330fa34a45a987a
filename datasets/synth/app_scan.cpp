#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {

void scan_probe(TcpConversation& tcp, core::Rng& rng) {
  tcp.segment(true, tcp_flag::kSyn);
  const double outcome = rng.uniform();
  if (outcome < 0.12) {  // open: SYN/ACK, and the scanner tears it down with a RST
    tcp.segment(false, tcp_flag::kSyn | tcp_flag::kAck);
    tcp.segment(true, tcp_flag::kRst);
  } else if (outcome < 0.8) {  // closed: RST/ACK
    tcp.segment(false, tcp_flag::kRst | tcp_flag::kAck);
  }  // else filtered: no answer
}

}  // namespace trafficfm::datasets::synth

// Application-level scripts of the synthetic traffic classes. Each writes one complete,
// protocol-correct flow into its conversation, with class-typical message sizes, directions
// and timings (see docs/synth.md for the distributions).
#pragma once
#include <string>
#include <vector>

#include "core/rng.h"
#include "datasets/synth/conversation.h"

namespace trafficfm::datasets::synth {

std::vector<std::uint8_t> random_bytes(core::Rng& rng, std::size_t n);
// "api.lumenfield.io", "cdn3.brightwave.net": plausible, deterministic in the stream.
std::string random_domain(core::Rng& rng);
// Clamped log-normal size, the shape real message sizes have.
std::size_t random_size(core::Rng& rng, double median, double sigma, std::size_t lo, std::size_t hi);

// HTTP/1.1: handshake, 1-3 keep-alive GETs with chunked responses, FIN.
void http_flow(TcpConversation& tcp, core::Rng& rng, const std::string& host);
// TLS 1.3: ClientHello with SNI, ServerHello + encrypted handshake, application records.
void tls_flow(TcpConversation& tcp, core::Rng& rng, const std::string& server_name);
// SSH-2: banners, KEXINIT both ways, ECDH key exchange, NEWKEYS, encrypted interactive session.
void ssh_flow(TcpConversation& tcp, core::Rng& rng);
// DNS: one query (A or AAAA) and its response (answers, or NXDOMAIN).
void dns_flow(UdpConversation& udp, core::Rng& rng, const std::string& name);
// QUIC-like: long-header Initial/Handshake packets, then short-header 1-RTT data and ACKs.
void quic_flow(UdpConversation& udp, core::Rng& rng);
// One port-scan probe: SYN answered by SYN/ACK (+RST), RST/ACK, or nothing (filtered).
void scan_probe(TcpConversation& tcp, core::Rng& rng);

}  // namespace trafficfm::datasets::synth

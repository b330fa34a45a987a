#include "datasets/synth/generator.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/rng.h"
#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {

const char* const kLabelsHeader =
    "file,l4,src_ip,src_port,dst_ip,dst_port,label,server_name,packets_fwd,bytes_fwd,packets_bwd,bytes_bwd";

namespace {

enum ClassId { kHttp, kTls, kDns, kSsh, kQuic, kScan, kClassCount };

struct ClassSpec {
  const char* name;
  std::uint8_t l4;
  std::uint16_t server_port;
  double default_weight;
};

constexpr ClassSpec kClasses[kClassCount] = {
    {"http", kIpProtoTcp, 80, 0.15}, {"tls", kIpProtoTcp, 443, 0.33},  {"dns", kIpProtoUdp, 53, 0.25},
    {"ssh", kIpProtoTcp, 22, 0.07},  {"quic", kIpProtoUdp, 443, 0.10}, {"scan", kIpProtoTcp, 0, 0.10}};

// Stream ids of the per-purpose random streams (each flow k draws from kFlowStreamBase + k).
constexpr std::uint64_t kHostStream = 1;
constexpr std::uint64_t kArrivalStream = 2;
constexpr std::uint64_t kFlowStreamBase = 1000;

// Captures start at 2024-01-01T00:00:00Z; times inside are kept as offsets for precision.
constexpr std::int64_t kEpoch = 1704067200;

struct HostTable {
  std::vector<Host> servers;  // first resolvers, then other servers
  std::vector<Host> clients;  // first scanners, then other clients
  std::size_t resolvers = 1;
  std::size_t scanners = 1;
};

std::string ip_text(std::uint32_t ip) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
  return buf;
}

HostTable make_hosts(std::uint32_t count, std::uint64_t seed) {
  core::Rng rng(seed, kHostStream);
  HostTable table;
  const std::uint32_t servers = std::max<std::uint32_t>(1, count / 4);
  std::unordered_set<std::uint32_t> used_ips;
  std::unordered_set<std::uint64_t> used_macs;
  for (std::uint32_t i = 0; i < count; ++i) {
    const bool server = i < servers;
    Host host;
    do {
      // Clients in 10.0.0.0/8; servers in 198.18.0.0/15 (RFC 2544, never routed).
      host.ipv4 = server ? (0xc6120000u | static_cast<std::uint32_t>(rng.integer(1, 0x1fffe)))
                         : (0x0a000000u | static_cast<std::uint32_t>(rng.integer(1, 0xfffffe)));
    } while ((host.ipv4 & 0xff) == 0 || (host.ipv4 & 0xff) == 255 || !used_ips.insert(host.ipv4).second);
    std::uint64_t mac = 0;
    do {
      mac = (rng.next() & 0xfcffffffffffULL) | 0x020000000000ULL;  // unicast, locally administered
    } while (!used_macs.insert(mac).second);
    for (int b = 0; b < 6; ++b) host.mac[b] = static_cast<std::uint8_t>(mac >> (8 * (5 - b)));
    host.ttl = rng.bernoulli(server ? 0.25 : 0.45) ? 128 : 64;
    (server ? table.servers : table.clients).push_back(host);
  }
  table.resolvers = std::max<std::size_t>(1, table.servers.size() / 10);
  table.scanners = std::max<std::size_t>(1, table.clients.size() / 20);
  return table;
}

// 5-tuple key for uniqueness: no two flows of the corpus share one.
struct TupleHash {
  std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& k) const {
    return std::hash<std::uint64_t>()(k.first * 0x9e3779b97f4a7c15ULL ^ k.second);
  }
};

struct GeneratedFlow {
  ClassId cls;
  FlowEndpoints ends;
  std::string server_name;
  std::vector<SynthPacket> packets;
};

GeneratedFlow generate_flow(std::uint64_t index, double start, const HostTable& hosts,
                            const std::vector<double>& cumulative_weights, std::uint64_t seed,
                            std::unordered_set<std::pair<std::uint64_t, std::uint64_t>, TupleHash>& used) {
  core::Rng rng(seed, kFlowStreamBase + index);
  GeneratedFlow flow;
  const double pick = rng.uniform() * cumulative_weights.back();
  flow.cls =
      static_cast<ClassId>(std::upper_bound(cumulative_weights.begin(), cumulative_weights.end(), pick) -
                           cumulative_weights.begin());
  flow.cls = std::min(flow.cls, static_cast<ClassId>(kClassCount - 1));
  const ClassSpec& spec = kClasses[flow.cls];

  const std::size_t scanners = hosts.scanners;
  if (flow.cls == kScan) {
    flow.ends.client = hosts.clients[rng.integer(0, static_cast<std::int64_t>(scanners) - 1)];
    flow.ends.server = hosts.servers[rng.integer(0, static_cast<std::int64_t>(hosts.servers.size()) - 1)];
  } else {
    // Scanners also browse; other clients never scan.
    flow.ends.client = hosts.clients[rng.integer(0, static_cast<std::int64_t>(hosts.clients.size()) - 1)];
    // DNS goes to the resolvers (the first servers); other classes to the remaining servers.
    const std::size_t resolvers = hosts.resolvers;
    const bool separate = hosts.servers.size() > resolvers;
    const std::size_t first = flow.cls == kDns || !separate ? 0 : resolvers;
    const std::size_t count = flow.cls == kDns ? resolvers : hosts.servers.size() - first;
    flow.ends.server = hosts.servers[first + rng.integer(0, static_cast<std::int64_t>(count) - 1)];
  }
  static const std::uint16_t kScanPorts[] = {21,  22,  23,  25,   53,   80,   110,  135,  139,  143, 443,
                                             445, 993, 995, 1433, 3306, 3389, 5432, 5900, 8080, 8443};
  for (int attempt = 0;; ++attempt) {
    flow.ends.server_port = spec.server_port;
    if (flow.cls == kScan) {
      flow.ends.server_port = rng.bernoulli(0.5) ? kScanPorts[rng.integer(0, 20)]
                                                 : static_cast<std::uint16_t>(rng.integer(1, 65535));
    }
    flow.ends.client_port = static_cast<std::uint16_t>(rng.integer(32768, 60999));
    const std::pair<std::uint64_t, std::uint64_t> key{
        (static_cast<std::uint64_t>(flow.ends.client.ipv4) << 32) | flow.ends.server.ipv4,
        (static_cast<std::uint64_t>(flow.ends.client_port) << 24) |
            (static_cast<std::uint64_t>(flow.ends.server_port) << 8) | spec.l4};
    if (used.insert(key).second) break;
    if (attempt > 1000) throw std::runtime_error("synth: cannot find a free 5-tuple; use more --hosts");
  }

  const double rtt = std::clamp(rng.lognormal(0.03, 0.8), 0.0005, 0.6);
  if (spec.l4 == kIpProtoTcp) {
    TcpConversation tcp(flow.ends, start, rtt, rng);
    switch (flow.cls) {
      case kHttp:
        flow.server_name = random_domain(rng);
        http_flow(tcp, rng, flow.server_name);
        break;
      case kTls:
        flow.server_name = random_domain(rng);
        tls_flow(tcp, rng, flow.server_name);
        break;
      case kSsh:
        ssh_flow(tcp, rng);
        break;
      default:
        scan_probe(tcp, rng);
        break;
    }
    flow.packets = tcp.take_packets();
  } else {
    UdpConversation udp(flow.ends, start, rtt, rng);
    if (flow.cls == kDns) {
      flow.server_name = random_domain(rng);
      dns_flow(udp, rng, flow.server_name);
    } else {
      quic_flow(udp, rng);
    }
    flow.packets = udp.take_packets();
  }
  return flow;
}

struct TimedPacket {
  double time;
  const std::vector<std::uint8_t>* frame;
};

void write_pcap(const std::string& path, std::vector<TimedPacket>& packets) {
  std::stable_sort(packets.begin(), packets.end(),
                   [](const TimedPacket& a, const TimedPacket& b) { return a.time < b.time; });
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  if (!dead) throw std::runtime_error("synth: pcap_open_dead failed");
  const std::string tmp = core::temporary_path_for(path);
  pcap_dumper_t* dumper = pcap_dump_open(dead, tmp.c_str());
  if (!dumper) {
    const std::string error = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error("synth: cannot create '" + tmp + "': " + error);
  }
  for (const auto& packet : packets) {
    pcap_pkthdr header{};
    const double whole = std::floor(packet.time);
    header.ts.tv_sec = kEpoch + static_cast<std::int64_t>(whole);
    header.ts.tv_usec = std::min<long>(999999, std::lround((packet.time - whole) * 1e6));
    header.caplen = header.len = static_cast<bpf_u_int32>(packet.frame->size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, packet.frame->data());
  }
  const bool flushed = pcap_dump_flush(dumper) == 0;
  pcap_dump_close(dumper);
  pcap_close(dead);
  if (!flushed) {
    std::remove(tmp.c_str());
    throw std::runtime_error("synth: cannot write '" + tmp + "'");
  }
  core::commit_file(tmp, path);
}

}  // namespace

const std::vector<std::string>& class_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : kClasses) out.push_back(c.name);
    return out;
  }();
  return names;
}

SynthSummary generate_corpus(const SynthOptions& options, const FlowCallback& on_flow) {
  if (options.out_dir.empty()) throw std::invalid_argument("synth: an output directory is required");
  if (options.hosts < 2) throw std::invalid_argument("synth: --hosts must be at least 2");
  if (options.flows_per_file == 0) throw std::invalid_argument("synth: flows per file must be positive");
  if (!(options.flows_per_second > 0)) throw std::invalid_argument("synth: the flow rate must be positive");
  std::vector<double> cumulative;
  for (int c = 0; c < kClassCount; ++c) {
    const double w = options.class_weights.empty() ? kClasses[c].default_weight : options.class_weights.at(c);
    if (w < 0) throw std::invalid_argument("synth: class weights must be non-negative");
    cumulative.push_back((cumulative.empty() ? 0.0 : cumulative.back()) + w);
  }
  if (options.class_weights.size() > kClassCount || !(cumulative.back() > 0)) {
    throw std::invalid_argument("synth: need one non-negative weight per class, not all zero");
  }
  std::error_code made;  // parents too, like prep's --out
  std::filesystem::create_directories(options.out_dir, made);
  if (made)
    throw std::runtime_error("synth: cannot create directory '" + options.out_dir + "': " + made.message());

  const HostTable hosts = make_hosts(options.hosts, options.seed);
  core::Rng arrivals(options.seed, kArrivalStream);
  std::unordered_set<std::pair<std::uint64_t, std::uint64_t>, TupleHash> used;
  SynthSummary summary;
  std::string labels = std::string(kLabelsHeader) + "\n";
  double start = 0.0;
  double first_time = INFINITY, last_time = -INFINITY;

  for (std::uint64_t begin = 0; begin < options.flows; begin += options.flows_per_file) {
    const std::uint64_t end = std::min(options.flows, begin + options.flows_per_file);
    char name[32];
    std::snprintf(name, sizeof name, "synth-%05llu.pcap",
                  static_cast<unsigned long long>(begin / options.flows_per_file));
    std::vector<GeneratedFlow> flows;
    flows.reserve(end - begin);
    for (std::uint64_t k = begin; k < end; ++k) {
      start += arrivals.exponential(1.0 / options.flows_per_second);
      flows.push_back(generate_flow(k, start, hosts, cumulative, options.seed, used));
      if (on_flow) on_flow();
    }
    std::vector<TimedPacket> packets;
    for (const auto& flow : flows) {
      ClassTotals& totals = summary.per_class[kClasses[flow.cls].name];
      std::uint64_t count[2] = {0, 0}, bytes[2] = {0, 0};
      for (const auto& p : flow.packets) {
        packets.push_back({p.time, &p.frame});
        const int dir = p.from_client ? 0 : 1;
        ++count[dir];
        bytes[dir] += p.frame.size();
        first_time = std::min(first_time, p.time);
        last_time = std::max(last_time, p.time);
      }
      totals.flows += 1;
      totals.packets += count[0] + count[1];
      totals.bytes += bytes[0] + bytes[1];
      const ClassSpec& spec = kClasses[flow.cls];
      labels += std::string(name) + (spec.l4 == kIpProtoTcp ? ",TCP," : ",UDP,") +
                ip_text(flow.ends.client.ipv4) + "," + std::to_string(flow.ends.client_port) + "," +
                ip_text(flow.ends.server.ipv4) + "," + std::to_string(flow.ends.server_port) + "," +
                spec.name + "," + flow.server_name + "," + std::to_string(count[0]) + "," +
                std::to_string(bytes[0]) + "," + std::to_string(count[1]) + "," + std::to_string(bytes[1]) +
                "\n";
    }
    write_pcap(options.out_dir + "/" + name, packets);
    summary.files.push_back(options.out_dir + "/" + name);
    summary.packets += packets.size();
    for (const auto& p : packets) summary.bytes += p.frame->size();
  }
  core::write_file_atomically(options.out_dir + "/labels.csv", labels);
  summary.files.push_back(options.out_dir + "/labels.csv");
  summary.capture_seconds = last_time > first_time ? last_time - first_time : 0.0;
  return summary;
}

}  // namespace trafficfm::datasets::synth

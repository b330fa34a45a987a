#include "datasets/flow/flow_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace trafficfm::datasets {
namespace {

constexpr double kNs = 1e9;

bool endpoint_less(const IpAddress& a, std::uint16_t ap, const IpAddress& b, std::uint16_t bp) {
  if (!(a == b)) return a < b;
  return ap < bp;
}

void fnv(std::uint64_t& h, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
}

}  // namespace

FlowKey FlowKey::of(const IpAddress& src, std::uint16_t src_port, const IpAddress& dst,
                    std::uint16_t dst_port, std::uint8_t protocol) {
  FlowKey k;
  k.protocol = protocol;
  if (endpoint_less(src, src_port, dst, dst_port)) {
    k.a = src, k.a_port = src_port, k.b = dst, k.b_port = dst_port;
  } else {
    k.a = dst, k.a_port = dst_port, k.b = src, k.b_port = src_port;
  }
  return k;
}

std::uint64_t FlowKey::hash() const {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  fnv(h, &a.family, 1);
  fnv(h, a.bytes.data(), 16);
  fnv(h, &b.family, 1);
  fnv(h, b.bytes.data(), 16);
  const std::uint8_t ports[5] = {static_cast<std::uint8_t>(a_port >> 8), static_cast<std::uint8_t>(a_port),
                                 static_cast<std::uint8_t>(b_port >> 8), static_cast<std::uint8_t>(b_port),
                                 protocol};
  fnv(h, ports, 5);
  return h;
}

std::size_t FlowKeyHasher::operator()(const FlowKey& k) const {
  std::uint64_t words[4];
  std::memcpy(words, k.a.bytes.data(), 16);
  std::memcpy(words + 2, k.b.bytes.data(), 16);
  std::uint64_t h = (static_cast<std::uint64_t>(k.a_port) << 32) ^
                    (static_cast<std::uint64_t>(k.b_port) << 16) ^
                    (static_cast<std::uint64_t>(k.protocol) << 8) ^ k.a.family;
  for (std::uint64_t w : words) {
    h ^= w;
    h *= 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
  }
  return static_cast<std::size_t>(h);
}

void DirectionStats::add(std::uint32_t size, std::uint32_t payload, std::int64_t timestamp_ns) {
  ++packets;
  bytes += size;
  payload_bytes += payload;
  const double s = size;
  if (packets == 1) {
    size_min = size_max = s;
  } else {
    size_min = std::min(size_min, s);
    size_max = std::max(size_max, s);
    const double iat = (timestamp_ns - last_ns) / kNs;
    const std::uint64_t n = packets - 1;  // number of gaps so far
    if (n == 1) {
      iat_min = iat_max = iat;
    } else {
      iat_min = std::min(iat_min, iat);
      iat_max = std::max(iat_max, iat);
    }
    const double d = iat - iat_mean;
    iat_mean += d / n;
    iat_m2 += d * (iat - iat_mean);
  }
  const double d = s - size_mean;
  size_mean += d / packets;
  size_m2 += d * (s - size_mean);
  last_ns = timestamp_ns;
}

double DirectionStats::size_std() const { return packets > 1 ? std::sqrt(size_m2 / (packets - 1)) : 0.0; }
double DirectionStats::iat_std() const { return packets > 2 ? std::sqrt(iat_m2 / (packets - 2)) : 0.0; }

FlowTable::FlowTable(const FlowTableOptions& options, Sink sink)
    : options_(options), sink_(std::move(sink)) {}

void FlowTable::emit(std::unordered_map<FlowKey, Entry, FlowKeyHasher>::iterator it, Flow::End end) {
  it->second.flow.end = end;
  lru_.erase(it->second.lru);
  Flow flow = std::move(it->second.flow);
  flows_.erase(it);
  ++emitted_;
  sink_(std::move(flow));
}

void FlowTable::expire_idle(std::int64_t now_ns) {
  const auto idle_ns = static_cast<std::int64_t>(options_.idle_timeout_s * kNs);
  const auto linger_ns = static_cast<std::int64_t>(options_.closed_linger_s * kNs);
  // The LRU front is the least recently seen flow: stop at the first one still alive. A closed
  // flow leaves after closed_linger_s once it reaches the front; behind a live flow it waits,
  // at most until the idle timeout, which bounds memory all the same.
  while (!lru_.empty()) {
    auto it = flows_.find(lru_.front());
    const Flow& f = it->second.flow;
    const bool closed = f.end == Flow::End::kFinished || f.end == Flow::End::kReset;
    if (now_ns - f.last_ns > idle_ns) {
      emit(it, closed ? f.end : Flow::End::kIdle);
    } else if (closed && now_ns - f.last_ns > linger_ns) {
      emit(it, f.end);
    } else {
      break;
    }
  }
}

void FlowTable::add(const PacketView& p, const std::string& file, int link_type) {
  // Sweep at most once per simulated second of capture time: amortized O(1) per packet.
  if (p.timestamp_ns - last_sweep_ns_ >= static_cast<std::int64_t>(kNs) || p.timestamp_ns < last_sweep_ns_) {
    expire_idle(p.timestamp_ns);
    last_sweep_ns_ = p.timestamp_ns;
  }
  const FlowKey key = FlowKey::of(p.src, p.src_port, p.dst, p.dst_port, p.protocol);
  auto it = flows_.find(key);
  if (it != flows_.end()) {
    const Flow& f = it->second.flow;
    const bool closed = f.end == Flow::End::kFinished || f.end == Flow::End::kReset;
    const bool new_syn = p.protocol == 6 && (p.tcp_flags & 0x12) == 0x02;  // SYN without ACK
    if (p.timestamp_ns - f.last_ns > static_cast<std::int64_t>(options_.idle_timeout_s * kNs)) {
      emit(it, closed ? f.end : Flow::End::kIdle);
      it = flows_.end();
    } else if (p.timestamp_ns - f.first_ns > static_cast<std::int64_t>(options_.active_timeout_s * kNs)) {
      emit(it, Flow::End::kActive);
      it = flows_.end();
    } else if (closed && new_syn) {  // the same 5-tuple reused by a new connection
      emit(it, f.end);
      it = flows_.end();
    }
  }
  if (it == flows_.end()) {
    Entry entry;
    Flow& f = entry.flow;
    f.key = key;
    f.client = p.src;
    f.server = p.dst;
    f.client_port = p.src_port;
    f.server_port = p.dst_port;
    f.protocol = p.protocol;
    f.first_ns = p.timestamp_ns;
    if (!file_ || *file_ != file) file_ = std::make_shared<const std::string>(file);
    f.file = file_;
    f.link_type = link_type;
    f.end = Flow::End::kEndOfFile;
    f.packets.reserve(options_.keep_packets);  // one allocation, not one per doubling
    lru_.push_back(key);
    entry.lru = std::prev(lru_.end());
    it = flows_.emplace(key, std::move(entry)).first;
  } else {
    lru_.splice(lru_.end(), lru_, it->second.lru);  // most recently seen goes to the back
  }

  Flow& f = it->second.flow;
  const bool from_client = p.src == f.client && p.src_port == f.client_port;
  f.last_ns = std::max(f.last_ns, p.timestamp_ns);
  const std::uint32_t payload = p.payload_length;
  (from_client ? f.forward : f.backward).add(p.ip_length, payload, p.timestamp_ns);
  f.both.add(p.ip_length, payload, p.timestamp_ns);
  if (f.packets.size() < options_.keep_packets) {
    FlowPacket kept;
    kept.timestamp_ns = p.timestamp_ns;
    kept.from_client = from_client;
    kept.ip_length = p.ip_length;
    kept.tcp_flags = p.tcp_flags;
    kept.transport_offset =
        static_cast<std::uint16_t>(std::min<std::size_t>(p.transport_offset, p.ip_captured));
    kept.header_length = static_cast<std::uint16_t>(std::min<std::size_t>(p.payload_offset, p.ip_captured));
    const std::size_t n = std::min(p.ip_captured, options_.keep_bytes);
    kept.bytes.assign(p.ip, p.ip + n);
    f.packets.push_back(std::move(kept));
  }
  if (p.protocol == 6) {
    for (int bit = 0; bit < 8; ++bit) f.tcp_flag_counts[bit] += (p.tcp_flags >> bit) & 1;
    if (p.tcp_flags & 0x01) (from_client ? f.fin_from_client : f.fin_from_server) = true;
    if (p.tcp_flags & 0x04) {
      f.end = Flow::End::kReset;
    } else if (f.fin_from_client && f.fin_from_server) {
      f.end = Flow::End::kFinished;
    }
  }
}

void FlowTable::flush() {
  while (!lru_.empty()) {
    auto it = flows_.find(lru_.front());
    const Flow::End end = it->second.flow.end;
    emit(it, end == Flow::End::kFinished || end == Flow::End::kReset ? end : Flow::End::kEndOfFile);
  }
}

}  // namespace trafficfm::datasets

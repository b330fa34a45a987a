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
    : options_(options), sink_(std::move(sink)), slots_(1024) {}

std::size_t FlowTable::find(const FlowKey& key, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.entry == kNone) return static_cast<std::size_t>(-1);
    if (s.tag == tag && entries_[s.entry].flow.key == key) return i;
  }
}

void FlowTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.entry == kNone) continue;
    std::size_t i = entries_[s.entry].hash & mask;
    while (slots_[i].entry != kNone) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

std::uint32_t FlowTable::insert(const FlowKey& key, std::uint64_t hash) {
  if (2 * (live_ + 1) > slots_.size()) grow();
  std::uint32_t e;
  if (!free_entries_.empty()) {
    e = free_entries_.back();
    free_entries_.pop_back();
  } else {
    e = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& entry = entries_[e];
  entry.flow = Flow();
  entry.flow.key = key;
  entry.hash = hash;
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i].entry != kNone) i = (i + 1) & mask;
  slots_[i] = {e, static_cast<std::uint32_t>(hash >> 32)};
  ++live_;
  link_newest(e);
  return e;
}

void FlowTable::unlink(std::uint32_t e) {
  Entry& entry = entries_[e];
  (entry.older == kNone ? oldest_ : entries_[entry.older].newer) = entry.newer;
  (entry.newer == kNone ? newest_ : entries_[entry.newer].older) = entry.older;
  entry.older = entry.newer = kNone;
}

void FlowTable::link_newest(std::uint32_t e) {
  Entry& entry = entries_[e];
  entry.older = newest_;
  entry.newer = kNone;
  (newest_ == kNone ? oldest_ : entries_[newest_].newer) = e;
  newest_ = e;
}

// Linear probing's deletion without tombstones: later entries of the run move back into the gap
// when their home slot does not lie cyclically in (gap, their slot].
void FlowTable::erase_slot(std::size_t gap) {
  const std::size_t mask = slots_.size() - 1;
  slots_[gap].entry = kNone;
  for (std::size_t j = (gap + 1) & mask; slots_[j].entry != kNone; j = (j + 1) & mask) {
    const std::size_t home = entries_[slots_[j].entry].hash & mask;
    const bool stays = gap <= j ? (gap < home && home <= j) : (gap < home || home <= j);
    if (stays) continue;
    slots_[gap] = slots_[j];
    slots_[j].entry = kNone;
    gap = j;
  }
}

void FlowTable::emit(std::size_t slot, Flow::End end) {
  const std::uint32_t e = slots_[slot].entry;
  erase_slot(slot);
  unlink(e);
  --live_;
  Flow flow = std::move(entries_[e].flow);
  free_entries_.push_back(e);
  flow.end = end;
  ++emitted_;
  sink_(std::move(flow));
}

void FlowTable::expire_idle(std::int64_t now_ns) {
  const auto idle_ns = static_cast<std::int64_t>(options_.idle_timeout_s * kNs);
  const auto linger_ns = static_cast<std::int64_t>(options_.closed_linger_s * kNs);
  // The oldest entry is the least recently seen flow: stop at the first one still alive. A
  // closed flow leaves after closed_linger_s once it is the oldest; behind a live flow it waits,
  // at most until the idle timeout, which bounds memory all the same.
  while (oldest_ != kNone) {
    const Entry& entry = entries_[oldest_];
    const Flow& f = entry.flow;
    const bool closed = f.end == Flow::End::kFinished || f.end == Flow::End::kReset;
    Flow::End end;
    if (now_ns - f.last_ns > idle_ns) {
      end = closed ? f.end : Flow::End::kIdle;
    } else if (closed && now_ns - f.last_ns > linger_ns) {
      end = f.end;
    } else {
      break;
    }
    emit(find(f.key, entry.hash), end);
  }
}

void FlowTable::add(const PacketView& p, const std::string& file, int link_type) {
  // Sweep at most once per simulated second of capture time: amortized O(1) per packet.
  if (p.timestamp_ns - last_sweep_ns_ >= static_cast<std::int64_t>(kNs) || p.timestamp_ns < last_sweep_ns_) {
    expire_idle(p.timestamp_ns);
    last_sweep_ns_ = p.timestamp_ns;
  }
  const FlowKey key = FlowKey::of(p.src, p.src_port, p.dst, p.dst_port, p.protocol);
  const std::uint64_t hash = FlowKeyHasher()(key);
  std::size_t slot = find(key, hash);
  std::uint32_t e = kNone;
  if (slot != static_cast<std::size_t>(-1)) {
    e = slots_[slot].entry;
    const Flow& f = entries_[e].flow;
    const bool closed = f.end == Flow::End::kFinished || f.end == Flow::End::kReset;
    const bool new_syn = p.protocol == 6 && (p.tcp_flags & 0x12) == 0x02;  // SYN without ACK
    if (p.timestamp_ns - f.last_ns > static_cast<std::int64_t>(options_.idle_timeout_s * kNs)) {
      emit(slot, closed ? f.end : Flow::End::kIdle);
      e = kNone;
    } else if (p.timestamp_ns - f.first_ns > static_cast<std::int64_t>(options_.active_timeout_s * kNs)) {
      emit(slot, Flow::End::kActive);
      e = kNone;
    } else if (closed && new_syn) {  // the same 5-tuple reused by a new connection
      emit(slot, f.end);
      e = kNone;
    }
  }
  if (e == kNone) {
    e = insert(key, hash);
    Flow& f = entries_[e].flow;
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
  } else if (newest_ != e) {
    unlink(e);  // most recently seen goes to the back
    link_newest(e);
  }

  Flow& f = entries_[e].flow;
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
  while (oldest_ != kNone) {
    const Entry& entry = entries_[oldest_];
    const Flow::End end = entry.flow.end;
    emit(find(entry.flow.key, entry.hash),
         end == Flow::End::kFinished || end == Flow::End::kReset ? end : Flow::End::kEndOfFile);
  }
}

}  // namespace trafficfm::datasets

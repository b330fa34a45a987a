#include "datasets/capture/capture_reader.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "datasets/capture/packet_view.h"

namespace trafficfm::datasets {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// stdio stream over a gzip file, so libpcap (which wants a FILE*) reads it decompressed.
struct GzCookie {
  gzFile file;
};
ssize_t gz_read(void* cookie, char* buffer, size_t size) {
  const int n = gzread(static_cast<GzCookie*>(cookie)->file, buffer,
                       static_cast<unsigned>(std::min<size_t>(size, 1 << 30)));
  return n < 0 ? -1 : n;
}
int gz_close(void* cookie) {
  auto* c = static_cast<GzCookie*>(cookie);
  const int rc = gzclose(c->file);
  delete c;
  return rc == Z_OK ? 0 : -1;
}
int gz_seek(void* cookie, off64_t* offset, int whence) {
  // Only "where am I" (ftell) is needed: report the uncompressed position.
  if (whence != SEEK_CUR || *offset != 0) return -1;
  *offset = gztell(static_cast<GzCookie*>(cookie)->file);
  return 0;
}

}  // namespace

constexpr std::size_t kStreamBuffer = 1 << 20;

// A classic pcap file read in place. libpcap reads each record through stdio into a buffer of
// its own (two copies of every byte, a third of prep's time on one thread), so for the common
// case, an uncompressed classic pcap of a link type prep decodes, the records are walked here
// in a read-only mapping of the file and handed out where they lie. libpcap still opens the
// file first: it checks the file header, and its link type and snapshot length are used. What
// it does with a record is done the same way (a captured length over 262,144 bytes is an error,
// one over the snapshot length is cut to it, a short record ends the capture as truncated).
struct MappedPcap {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t at = 24;      // the next record
  std::size_t dropped = 0;  // pages before this were released
  bool swapped = false;
  bool nanoseconds = false;
  std::uint32_t snapshot = 0;

  static constexpr std::uint32_t kMaxCaplen = 262144;  // libpcap's for these link types
  // Pages this far behind the next record are released, in steps of as much again: prep's
  // packets in flight (4 batches of 4,096) lie within a few MB of it.
  static constexpr std::size_t kRelease = 16 << 20;

  ~MappedPcap() {
    if (data) munmap(const_cast<std::uint8_t*>(data), size);
  }
  std::uint32_t u32(std::size_t offset) const {
    std::uint32_t v;
    std::memcpy(&v, data + offset, 4);
    return swapped ? __builtin_bswap32(v) : v;
  }
  // The file's pages already read leave this process's memory (a mapped 100 GB capture would
  // otherwise count in its resident size); they stay in the page cache, and a packet handed
  // out earlier that still points there is read back from the file if it is touched again.
  void release_read_pages() {
    if (at - dropped < 2 * kRelease) return;
    const std::size_t until = (at - kRelease) & ~static_cast<std::size_t>(4095);
    madvise(const_cast<std::uint8_t*>(data) + dropped, until - dropped, MADV_DONTNEED);
    dropped = until;
  }
};

namespace {

// The mapped reader when `path` is a classic pcap that it can read, else null.
std::unique_ptr<MappedPcap> map_classic_pcap(const std::string& path, pcap_t* handle) {
  if (!link_type_supported(pcap_datalink(handle))) return nullptr;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  void* map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 24) {
    map = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  }
  close(fd);
  if (map == MAP_FAILED) return nullptr;
  auto mapped = std::make_unique<MappedPcap>();
  mapped->data = static_cast<const std::uint8_t*>(map);
  mapped->size = static_cast<std::size_t>(st.st_size);
  std::uint32_t magic;
  std::memcpy(&magic, mapped->data, 4);
  switch (magic) {
    case 0xa1b2c3d4:
      break;
    case 0xa1b23c4d:
      mapped->nanoseconds = true;
      break;
    case 0xd4c3b2a1:
      mapped->swapped = true;
      break;
    case 0x4d3cb2a1:
      mapped->swapped = mapped->nanoseconds = true;
      break;
    default:
      return nullptr;  // pcapng, or a pcap variant libpcap reads itself
  }
  mapped->snapshot = static_cast<std::uint32_t>(pcap_snapshot(handle));
  madvise(map, mapped->size, MADV_SEQUENTIAL);
  return mapped;
}

}  // namespace

struct CaptureReader::Impl {
  pcap_t* handle = nullptr;
  std::unique_ptr<char[]> buffer;  // stdio buffer of the capture stream; outlives the handle
  std::unique_ptr<MappedPcap> mapped;
};

CaptureReader::CaptureReader(const std::string& path) : impl_(new Impl), path_(path) {
  char error[PCAP_ERRBUF_SIZE] = {0};
  if (ends_with(path, ".gz")) {
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw CaptureError(path + ": cannot open");
    cookie_io_functions_t io{gz_read, nullptr, gz_seek, gz_close};
    FILE* stream = fopencookie(new GzCookie{gz}, "rb", io);
    if (!stream) throw CaptureError(path + ": cannot open a decompressing stream");
    impl_->handle = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, error);
    if (!impl_->handle) std::fclose(stream);
  } else {
    // libpcap reads record by record through stdio; a 1 MiB buffer instead of stdio's 4 KiB
    // turns ~250 read() calls per MiB into one (about a third of prep's time otherwise).
    FILE* stream = std::fopen(path.c_str(), "rb");
    if (!stream) throw CaptureError(path + ": cannot open");
    impl_->buffer.reset(new char[kStreamBuffer]);
    std::setvbuf(stream, impl_->buffer.get(), _IOFBF, kStreamBuffer);
    impl_->handle = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, error);
    if (!impl_->handle) std::fclose(stream);
  }
  if (!impl_->handle) throw CaptureError(path + ": not a readable pcap/pcapng capture (" + error + ")");
  link_type_ = pcap_datalink(impl_->handle);
  if (!ends_with(path, ".gz")) impl_->mapped = map_classic_pcap(path, impl_->handle);
}

bool CaptureReader::stable_data() const { return impl_->mapped != nullptr; }

bool CaptureReader::next_mapped(RawPacket& packet) {
  MappedPcap& m = *impl_->mapped;
  const std::size_t left = m.size - m.at;
  if (left == 0) return false;
  const auto stop = [&](const std::string& message) {
    truncated_ = true;
    truncation_message_ = message;
    truncation_offset_ = static_cast<long>(m.at);
    return false;
  };
  if (left < 16) {
    return stop("truncated dump file; tried to read 16 header bytes, only got " + std::to_string(left));
  }
  const std::uint32_t seconds = m.u32(m.at), fraction = m.u32(m.at + 4);
  const std::uint32_t caplen = m.u32(m.at + 8), wire = m.u32(m.at + 12);
  if (caplen > MappedPcap::kMaxCaplen) {
    return stop("invalid packet capture length " + std::to_string(caplen) + ", bigger than maximum of " +
                std::to_string(MappedPcap::kMaxCaplen));
  }
  const std::uint32_t kept = std::min(caplen, m.snapshot);
  if (left - 16 < kept) {
    return stop("truncated dump file; tried to read " + std::to_string(kept) + " captured bytes, only got " +
                std::to_string(left - 16));
  }
  if (left - 16 < caplen) {  // libpcap reads the kept bytes, then fails skipping the rest
    return stop("truncated dump file; tried to read " + std::to_string(caplen - kept) +
                " captured bytes, only got " + std::to_string(left - 16 - kept));
  }
  packet.timestamp_ns = static_cast<std::int64_t>(seconds) * 1000000000LL +
                        (m.nanoseconds ? fraction : static_cast<std::int64_t>(fraction) * 1000);
  packet.caplen = kept;
  packet.wire_length = wire;
  packet.data = m.data + m.at + 16;
  m.at += 16 + static_cast<std::size_t>(caplen);
  // The next record's header and packet headers: their cache misses were most of decoding's time
  // (the payloads between them are never read, so the hardware sees no stream to prefetch).
  if (m.size - m.at >= 128) {
    __builtin_prefetch(m.data + m.at);
    __builtin_prefetch(m.data + m.at + 64);
  }
  m.release_read_pages();
  return true;
}

CaptureReader::~CaptureReader() {
  if (impl_->handle) pcap_close(impl_->handle);  // closes the stream before its buffer goes
}

bool CaptureReader::next(RawPacket& packet) {
  if (truncated_) return false;
  if (impl_->mapped) return next_mapped(packet);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(impl_->handle, &header, &data);
  if (rc == 1) {
    packet.timestamp_ns = static_cast<std::int64_t>(header->ts.tv_sec) * 1000000000LL + header->ts.tv_usec;
    packet.caplen = header->caplen;
    packet.wire_length = header->len;
    packet.data = data;
    return true;
  }
  if (rc == PCAP_ERROR) {
    truncated_ = true;
    truncation_message_ = pcap_geterr(impl_->handle);
    FILE* stream = pcap_file(impl_->handle);
    truncation_offset_ = stream ? std::ftell(stream) : -1;
  }
  return false;
}

std::vector<std::string> list_capture_files(const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it =
               fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const std::string name = it->path().string();
        for (const char* ext : {".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"}) {
          if (ends_with(name, ext)) {
            found.push_back(name);
            break;
          }
        }
      }
      if (ec) throw CaptureError(input + ": cannot walk directory: " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, ec)) {
      files.push_back(input);
    } else {
      throw CaptureError(input + ": no such file or directory");
    }
  }
  return files;
}

}  // namespace trafficfm::datasets

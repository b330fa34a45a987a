// Reads pcap (µs and ns) and pcapng files offline through libpcap, and `.gz`-compressed ones
// through zlib. A file that is not a capture is a CaptureError naming it; a capture that ends
// mid-record keeps what was read and reports the byte offset of the cut.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace trafficfm::datasets {

class CaptureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RawPacket {
  std::int64_t timestamp_ns = 0;
  std::uint32_t caplen = 0;
  std::uint32_t wire_length = 0;
  const std::uint8_t* data = nullptr;  // valid until the next call to next()
};

class CaptureReader {
 public:
  explicit CaptureReader(const std::string& path);  // throws CaptureError
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // The next packet, or false at the end (or at a truncation, see truncated()).
  bool next(RawPacket& packet);
  // True when every packet's data stays valid while this reader lives (a classic pcap read in
  // place), not only until the next call.
  bool stable_data() const;
  int link_type() const { return link_type_; }
  const std::string& path() const { return path_; }
  bool truncated() const { return truncated_; }
  // Byte offset (in the uncompressed stream) where reading stopped early; -1 when unknown.
  long truncation_offset() const { return truncation_offset_; }
  const std::string& truncation_message() const { return truncation_message_; }

 private:
  struct Impl;
  bool next_mapped(RawPacket& packet);
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int link_type_ = 0;
  bool truncated_ = false;
  long truncation_offset_ = -1;
  std::string truncation_message_;
};

// Expands files and directories (recursively, sorted by path) into capture file paths:
// every regular file under a directory whose name ends in .pcap, .pcapng, .cap, .pcap.gz,
// .pcapng.gz or .cap.gz; files named explicitly are taken whatever their name.
std::vector<std::string> list_capture_files(const std::vector<std::string>& inputs);

}  // namespace trafficfm::datasets

// A classic pcap read in place (CaptureReader's mapped path) gives what libpcap gives for it:
// the same records, timestamps, lengths and bytes, in every byte order and timestamp precision,
// with a record over the snapshot length cut as libpcap cuts it, and a file that ends mid-record,
// or holds an impossible length, stops where libpcap stops.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "datasets/capture/capture_reader.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

struct Record {
  std::int64_t timestamp_ns;
  std::uint32_t caplen, wire;
  std::string bytes;
  bool operator==(const Record& o) const {
    return timestamp_ns == o.timestamp_ns && caplen == o.caplen && wire == o.wire && bytes == o.bytes;
  }
};

struct Read {
  std::vector<Record> records;
  bool truncated = false;
};

// A pcap file as bytes: the header, then each record (caplen bytes of data as given).
class PcapBytes {
 public:
  PcapBytes(bool swapped, bool nanoseconds, std::uint32_t snaplen, std::uint32_t link_type)
      : swapped_(swapped) {
    u32(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(snaplen);
    u32(link_type);
  }
  void record(std::uint32_t seconds, std::uint32_t fraction, std::uint32_t caplen, std::uint32_t wire,
              std::mt19937& rng) {
    u32(seconds);
    u32(fraction);
    u32(caplen);
    u32(wire);
    for (std::uint32_t i = 0; i < caplen; ++i) bytes.push_back(static_cast<char>(rng() & 0xff));
  }
  std::string bytes;

 private:
  void u32(std::uint32_t v) {
    if (swapped_) v = __builtin_bswap32(v);
    bytes.append(reinterpret_cast<const char*>(&v), 4);
  }
  void u16(std::uint16_t v) {
    if (swapped_) v = static_cast<std::uint16_t>(v >> 8 | v << 8);
    bytes.append(reinterpret_cast<const char*>(&v), 2);
  }
  bool swapped_;
};

Read with_libpcap(const std::string& path) {
  char error[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* handle = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, error);
  EXPECT_NE(handle, nullptr) << error;
  Read out;
  if (!handle) return out;
  pcap_pkthdr* header;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(handle, &header, &data)) == 1) {
    out.records.push_back({static_cast<std::int64_t>(header->ts.tv_sec) * 1000000000LL + header->ts.tv_usec,
                           header->caplen, header->len,
                           std::string(reinterpret_cast<const char*>(data), header->caplen)});
  }
  out.truncated = rc == PCAP_ERROR;
  pcap_close(handle);
  return out;
}

Read with_reader(const std::string& path, bool* mapped) {
  CaptureReader reader(path);
  *mapped = reader.stable_data();
  Read out;
  RawPacket p;
  std::vector<const std::uint8_t*> where;
  while (reader.next(p)) {
    out.records.push_back({p.timestamp_ns, p.caplen, p.wire_length,
                           std::string(reinterpret_cast<const char*>(p.data), p.caplen)});
    where.push_back(p.data);
  }
  out.truncated = reader.truncated();
  if (*mapped) {  // the data stays where it was handed out while the reader lives
    for (std::size_t i = 0; i < where.size(); ++i) {
      EXPECT_EQ(std::memcmp(where[i], out.records[i].bytes.data(), out.records[i].caplen), 0);
    }
  }
  return out;
}

class MappedPcap : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir("mapped-pcap"); }
  void TearDown() override { testing::remove_tree(dir_); }
  // Writes `bytes` (cut to `keep` bytes when given) and checks both readers agree.
  void expect_same_as_libpcap(const std::string& name, const std::string& bytes, bool expect_mapped,
                              bool expect_truncated, std::size_t keep = std::string::npos) {
    const std::string path = dir_ + "/" + name + ".pcap";
    const std::string written = bytes.substr(0, keep);
    std::ofstream(path, std::ios::binary).write(written.data(), static_cast<std::streamsize>(written.size()));
    const Read theirs = with_libpcap(path);
    bool mapped = false;
    const Read ours = with_reader(path, &mapped);
    EXPECT_EQ(mapped, expect_mapped) << name;
    EXPECT_EQ(ours.records.size(), theirs.records.size()) << name;
    EXPECT_TRUE(ours.records == theirs.records) << name;
    EXPECT_EQ(ours.truncated, theirs.truncated) << name;
    EXPECT_EQ(ours.truncated, expect_truncated) << name;
  }
  std::string dir_;
};

// Records of varied lengths, one of them longer than the snapshot length (cut to it).
PcapBytes sample(bool swapped, bool nanoseconds, std::uint32_t link_type = 1) {
  std::mt19937 rng(swapped * 2 + nanoseconds);
  PcapBytes pcap(swapped, nanoseconds, 200, link_type);
  for (std::uint32_t i = 0; i < 40; ++i) {
    const std::uint32_t caplen = i == 17 ? 300 : 14 + (rng() % 180);
    pcap.record(1700000000 + i, nanoseconds ? 999999999 - i : 999999 - i, caplen, caplen + (i % 3) * 100,
                rng);
  }
  return pcap;
}

TEST_F(MappedPcap, ReadsWhatLibpcapReadsInEveryByteOrderAndPrecision) {
  for (bool swapped : {false, true}) {
    for (bool nanoseconds : {false, true}) {
      const std::string name = std::string(swapped ? "swapped" : "native") + (nanoseconds ? "-ns" : "-us");
      expect_same_as_libpcap(name, sample(swapped, nanoseconds).bytes, true, false);
    }
  }
}

TEST_F(MappedPcap, StopsWhereLibpcapStopsOnACutOrImpossibleRecord) {
  const std::string whole = sample(false, false).bytes;
  for (std::size_t keep :
       {whole.size() - 1, whole.size() - 150, std::size_t{24 + 16 + 20 + 7}, std::size_t{24}}) {
    expect_same_as_libpcap("cut-" + std::to_string(keep), whole, true, keep > 24 && keep < whole.size(),
                           keep);
  }
  std::mt19937 rng(7);
  PcapBytes huge(false, false, 65535, 1);
  huge.record(1, 0, 60, 60, rng);
  huge.record(2, 0, 262145, 262145, rng);  // over libpcap's maximum for Ethernet
  expect_same_as_libpcap("huge", huge.bytes, true, true);
}

TEST_F(MappedPcap, OtherLinkTypesAndCompressedFilesGoThroughLibpcap) {
  expect_same_as_libpcap("user-link", sample(false, false, 147).bytes, false, false);
}

}  // namespace
}  // namespace trafficfm::datasets

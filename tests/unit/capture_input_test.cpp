// Bad input: truncated captures keep what was read, non-captures are errors naming the file,
// garbage inside packets is counted; compressed captures and directory walks work.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <fstream>

#include "datasets/capture/capture_reader.h"
#include "datasets/net/packet_builder.h"
#include "datasets/prep/packet_batches.h"
#include "datasets/prep/prep.h"
#include "datasets/synth/generator.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets {
namespace {

class CaptureInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir("capture-input");
    synth::SynthOptions options;
    options.out_dir = dir_ + "/good";
    options.flows = 50;
    options.hosts = 10;
    synth::generate_corpus(options);
    good_ = dir_ + "/good/synth-00000.pcap";
  }
  void TearDown() override { testing::remove_tree(dir_); }
  std::size_t count_packets(const std::string& path) {
    CaptureReader reader(path);
    RawPacket p;
    std::size_t n = 0;
    while (reader.next(p)) ++n;
    return n;
  }
  void expect_bad_directory_counts(const PrepCounts& c);
  std::string dir_, good_;
};

TEST_F(CaptureInput, TruncatedCaptureKeepsWhatWasReadAndReportsOffset) {
  const std::string bytes = testing::read_text_file(good_);
  const std::size_t all = count_packets(good_);
  const std::string cut = dir_ + "/cut.pcap";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  CaptureReader reader(cut);
  RawPacket p;
  std::size_t n = 0;
  while (reader.next(p)) ++n;
  EXPECT_TRUE(reader.truncated());
  EXPECT_GT(n, all / 4);
  EXPECT_LT(n, all);
  EXPECT_GT(reader.truncation_offset(), 24);
  EXPECT_LE(reader.truncation_offset(), static_cast<long>(bytes.size() / 2));
}

TEST_F(CaptureInput, NotACaptureIsAnErrorNamingTheFile) {
  const std::string text = dir_ + "/notes.pcap";
  std::ofstream(text) << "this is not a capture\n";
  try {
    CaptureReader reader(text);
    FAIL();
  } catch (const CaptureError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
  EXPECT_THROW(CaptureReader(dir_ + "/missing.pcap"), CaptureError);
}

TEST_F(CaptureInput, GzipCompressedCaptureReadsTheSamePackets) {
  ASSERT_EQ(testing::run_command("gzip -k -c '" + good_ + "' > '" + dir_ + "/good.pcap.gz'").exit_code, 0);
  EXPECT_EQ(count_packets(dir_ + "/good.pcap.gz"), count_packets(good_));
}

TEST_F(CaptureInput, DirectoriesAreWalkedRecursivelyInSortedOrder) {
  testing::run_command("mkdir -p '" + dir_ + "/tree/b/c' '" + dir_ + "/tree/a' && cp '" + good_ + "' '" +
                       dir_ + "/tree/b/c/x.pcapng' && cp '" + good_ + "' '" + dir_ +
                       "/tree/a/y.cap' && touch '" + dir_ + "/tree/a/readme.txt'");
  const auto files = list_capture_files({dir_ + "/tree"});
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("/tree/a/y.cap"), std::string::npos);
  EXPECT_NE(files[1].find("/tree/b/c/x.pcapng"), std::string::npos);
  EXPECT_THROW(list_capture_files({dir_ + "/nope"}), CaptureError);
}

TEST_F(CaptureInput, PrepCountsBadFilesAndGarbagePackets) {
  // A capture of hand-made garbage: a packet of each kind of damage, plus one good one.
  const std::string garbage = dir_ + "/bad/garbage.pcap";
  testing::run_command("mkdir -p '" + dir_ + "/bad'");
  Host a, b;
  a.ipv4 = 0x0a000001;
  b.ipv4 = 0x0a000002;
  TcpSegment seg;
  seg.src_port = 1;
  seg.dst_port = 2;
  seg.flags = tcp_flag::kSyn;
  const auto ok = build_tcp_frame(a, b, 0, seg, nullptr, 0);
  std::vector<std::vector<std::uint8_t>> frames;
  frames.push_back(ok);
  frames.push_back(std::vector<std::uint8_t>(ok.begin(), ok.begin() + 10));  // truncated link header
  frames.push_back(std::vector<std::uint8_t>(ok.begin(), ok.begin() + 24));  // truncated IP header
  frames.push_back(std::vector<std::uint8_t>(ok.begin(), ok.begin() + 40));  // truncated TCP header
  auto bad_ihl = ok;
  bad_ihl[14] = 0x41;
  frames.push_back(bad_ihl);
  auto bad_total = ok;
  bad_total[16] = 0;
  bad_total[17] = 4;  // total length 4 < header
  frames.push_back(bad_total);
  auto arp = ok;
  arp[13] = 0x06;
  frames.push_back(arp);
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, garbage.c_str());
  for (const auto& f : frames) {
    pcap_pkthdr h{};
    h.caplen = static_cast<bpf_u_int32>(f.size());
    h.len = static_cast<bpf_u_int32>(ok.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, f.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
  const std::string bytes = testing::read_text_file(good_);
  std::ofstream(dir_ + "/bad/cut.pcap", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  std::ofstream(dir_ + "/bad/text.pcap") << "hello";

  // At 2 threads a reader thread reads and decodes ahead (PacketBatches): the same counts.
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    PrepOptions options;
    options.threads = threads;
    options.out_dir = dir_ + "/corpus-" + std::to_string(threads);
    testing::run_command("mkdir -p '" + options.out_dir + "'");
    const auto result = prep_files(options, list_capture_files({dir_ + "/bad"}), nullptr);
    expect_bad_directory_counts(result.counts);
  }
}

void CaptureInput::expect_bad_directory_counts(const PrepCounts& c) {
  EXPECT_EQ(c.files, 3u);
  EXPECT_EQ(c.files_failed, 1u);     // text.pcap
  EXPECT_EQ(c.files_truncated, 1u);  // cut.pcap
  ASSERT_EQ(c.problems.size(), 2u);
  auto at = [&](DecodeStatus s) { return c.decode[static_cast<int>(s)]; };
  EXPECT_EQ(at(DecodeStatus::kTruncatedLinkHeader), 1u);
  EXPECT_EQ(at(DecodeStatus::kTruncatedIpHeader), 1u);
  EXPECT_EQ(at(DecodeStatus::kTruncatedTransportHeader), 1u);
  EXPECT_EQ(at(DecodeStatus::kBadIpHeader), 2u);
  EXPECT_EQ(at(DecodeStatus::kNotIp), 1u);
  EXPECT_GT(at(DecodeStatus::kOk), 10u);
  EXPECT_GT(c.flows, 5u);
}

// PacketBatches hands over, batch after batch, exactly what reading and decoding inline gives:
// the same packets in the same order with the same bytes, the same counts, the same truncation.
TEST_F(CaptureInput, PacketBatchesGiveWhatInlineReadingGives) {
  const std::string bytes = testing::read_text_file(good_);
  const std::string cut = dir_ + "/cut.pcap";
  std::ofstream(cut, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() * 2 / 3));
  for (const std::string& path : {good_, cut}) {
    SCOPED_TRACE(path);
    struct Seen {
      std::int64_t timestamp_ns;
      std::uint32_t ip_length;
      std::uint16_t src_port, dst_port;
      std::uint8_t tcp_flags;
      std::vector<std::uint8_t> ip;
    };
    std::vector<Seen> inline_seen;
    std::uint64_t inline_packets = 0, inline_bad = 0;
    const auto seen = [](const PacketView& v) {
      return Seen{v.timestamp_ns, v.ip_length, v.src_port,
                  v.dst_port,     v.tcp_flags, std::vector<std::uint8_t>(v.ip, v.ip + v.ip_captured)};
    };
    bool inline_truncated = false;
    {
      CaptureReader reader(path);
      RawPacket raw;
      PacketView view;
      while (reader.next(raw)) {
        ++inline_packets;
        if (decode_packet(reader.link_type(), raw.data, raw.caplen, raw.wire_length, view) !=
            DecodeStatus::kOk) {
          ++inline_bad;
          continue;
        }
        view.timestamp_ns = raw.timestamp_ns;
        inline_seen.push_back(seen(view));
      }
      inline_truncated = reader.truncated();
    }
    for (const bool own_thread : {true, false}) {
      SCOPED_TRACE(own_thread ? "own thread, batches of 7" : "inline, one packet at a time");
      std::vector<Seen> batch_seen;
      std::uint64_t batch_packets = 0, batch_bad = 0;
      CaptureReader reader(path);
      {
        PacketBatches batches(reader, reader.link_type(), own_thread, 7, 2);  // small batches, a short queue
        std::size_t count = 0;
        while (const PacketBatch* batch = batches.next()) {
          ++count;
          EXPECT_LE(batch->packets, own_thread ? 7u : 1u);
          batch_packets += batch->packets;
          batch_bad += batch->packets - batch->decode[static_cast<int>(DecodeStatus::kOk)];
          EXPECT_EQ(batch->views.size(), batch->decode[static_cast<int>(DecodeStatus::kOk)]);
          for (const PacketView& v : batch->views) batch_seen.push_back(seen(v));
        }
        EXPECT_GT(count, 10u);
        EXPECT_EQ(batches.next(), nullptr);
      }
      EXPECT_EQ(reader.truncated(), inline_truncated);
      EXPECT_EQ(inline_truncated, path == cut);
      EXPECT_EQ(batch_packets, inline_packets);
      EXPECT_EQ(batch_bad, inline_bad);
      ASSERT_EQ(batch_seen.size(), inline_seen.size());
      for (std::size_t i = 0; i < inline_seen.size(); ++i) {
        EXPECT_EQ(batch_seen[i].timestamp_ns, inline_seen[i].timestamp_ns) << i;
        EXPECT_EQ(batch_seen[i].ip_length, inline_seen[i].ip_length) << i;
        EXPECT_EQ(batch_seen[i].src_port, inline_seen[i].src_port) << i;
        EXPECT_EQ(batch_seen[i].dst_port, inline_seen[i].dst_port) << i;
        EXPECT_EQ(batch_seen[i].tcp_flags, inline_seen[i].tcp_flags) << i;
        EXPECT_TRUE(batch_seen[i].ip == inline_seen[i].ip) << i;
      }
    }
  }
}

// Stopped early (the consumer failed): the reader thread is joined without reading the rest.
TEST_F(CaptureInput, PacketBatchesStopWhenDroppedEarly) {
  CaptureReader reader(good_);
  {
    PacketBatches batches(reader, reader.link_type(), true, 3, 1);
    ASSERT_NE(batches.next(), nullptr);
  }
  RawPacket raw;
  EXPECT_TRUE(reader.next(raw));  // packets left: the thread did not read to the end
}

}  // namespace
}  // namespace trafficfm::datasets

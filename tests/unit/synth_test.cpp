// The synthetic corpus, read back with an independent pcap reader: every packet is valid
// Ethernet/IPv4 with correct checksums, flows in the pcap match labels.csv one to one, TCP
// sequence numbers are consistent, and the output is a pure function of the seed.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "datasets/synth/generator.h"
#include "tests/support/pcap_reader.h"
#include "tests/support/test_paths.h"

namespace trafficfm::datasets::synth {
namespace {

using Key = std::tuple<std::string, std::string, int, std::string, int>;  // l4, client, port, server, port

struct LabelRow {
  std::string file, label, server_name;
  long packets_fwd, bytes_fwd, packets_bwd, bytes_bwd;
};

std::map<Key, LabelRow> read_labels(const std::string& path) {
  std::istringstream in(testing::read_text_file(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, kLabelsHeader);
  std::map<Key, LabelRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string item;
    while (std::getline(ls, item, ',')) f.push_back(item);
    if (line.back() == ',') f.push_back("");
    EXPECT_EQ(f.size(), 12u) << line;
    if (f.size() != 12) continue;
    Key key{f[1], f[2], std::stoi(f[3]), f[4], std::stoi(f[5])};
    EXPECT_TRUE(rows.emplace(key, LabelRow{f[0], f[6], f[7], std::stol(f[8]), std::stol(f[9]),
                                           std::stol(f[10]), std::stol(f[11])})
                    .second)
        << "duplicate 5-tuple " << line;
  }
  return rows;
}

class SynthCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir("synth-test");
    SynthOptions options;
    options.out_dir = dir_;
    options.flows = 600;
    options.hosts = 40;
    options.seed = 7;
    options.flows_per_file = 250;
    summary_ = generate_corpus(options);
  }
  static void TearDownTestSuite() { testing::remove_tree(dir_); }
  static std::string dir_;
  static SynthSummary summary_;
};
std::string SynthCorpus::dir_;
SynthSummary SynthCorpus::summary_;

TEST_F(SynthCorpus, WritesFilesAndEveryClass) {
  ASSERT_EQ(summary_.files.size(), 4u);  // 250 + 250 + 100 flows, then labels.csv
  std::uint64_t flows = 0;
  for (const auto& name : class_names()) {
    ASSERT_TRUE(summary_.per_class.count(name)) << name;
    EXPECT_GT(summary_.per_class.at(name).flows, 10u) << name;
    flows += summary_.per_class.at(name).flows;
  }
  EXPECT_EQ(flows, 600u);
}

TEST_F(SynthCorpus, PacketsAreValidAndFlowsMatchLabelsOneToOne) {
  const auto labels = read_labels(dir_ + "/labels.csv");
  ASSERT_EQ(labels.size(), 600u);
  std::map<Key, std::array<long, 4>> seen;  // packets/bytes fwd, bwd
  std::set<std::uint32_t> ips;
  std::set<std::string> macs;
  std::uint64_t packets = 0;
  for (std::size_t i = 0; i + 1 < summary_.files.size(); ++i) {
    int link = 0;
    const auto decoded = testing::read_ipv4_pcap(summary_.files[i], &link);
    EXPECT_EQ(link, 1);  // DLT_EN10MB
    double last_time = 0;
    for (const auto& p : decoded) {
      ++packets;
      ASSERT_TRUE(p.protocol == 6 || p.protocol == 17);
      EXPECT_TRUE(p.ip_checksum_ok);
      EXPECT_TRUE(p.l4_checksum_ok);
      EXPECT_GE(p.time, last_time);  // time-ordered
      last_time = p.time;
      ips.insert(p.src_ip);
      macs.insert(std::string(p.frame.begin() + 6, p.frame.begin() + 12));
      const std::string l4 = p.protocol == 6 ? "TCP" : "UDP";
      const Key forward{l4, testing::ipv4_text(p.src_ip), p.src_port, testing::ipv4_text(p.dst_ip),
                        p.dst_port};
      const Key backward{l4, testing::ipv4_text(p.dst_ip), p.dst_port, testing::ipv4_text(p.src_ip),
                         p.src_port};
      const bool is_forward = labels.count(forward) > 0;
      ASSERT_TRUE(is_forward || labels.count(backward)) << "packet of a flow not in labels.csv";
      const Key& key = is_forward ? forward : backward;
      EXPECT_EQ(labels.at(key).file + "", summary_.files[i].substr(summary_.files[i].rfind('/') + 1));
      auto& counts = seen[key];
      counts[is_forward ? 0 : 2] += 1;
      counts[is_forward ? 1 : 3] += static_cast<long>(p.frame.size());
    }
  }
  EXPECT_EQ(packets, summary_.packets);
  EXPECT_EQ(seen.size(), labels.size());  // every labeled flow has packets
  for (const auto& [key, row] : labels) {
    const auto& c = seen[key];
    EXPECT_EQ(c[0], row.packets_fwd);
    EXPECT_EQ(c[1], row.bytes_fwd);
    EXPECT_EQ(c[2], row.packets_bwd);
    EXPECT_EQ(c[3], row.bytes_bwd);
  }
  EXPECT_GE(ips.size(), 30u);  // many distinct hosts
  EXPECT_GE(macs.size(), 30u);
}

TEST_F(SynthCorpus, TcpSequenceNumbersAreConsistent) {
  // Per direction of each TCP flow: every segment starts where the previous one ended.
  std::map<std::tuple<std::uint32_t, int, std::uint32_t, int>, std::uint32_t> next_seq;
  int checked = 0;
  for (std::size_t i = 0; i + 1 < summary_.files.size(); ++i) {
    for (const auto& p : testing::read_ipv4_pcap(summary_.files[i])) {
      if (p.protocol != 6) continue;
      const auto key = std::make_tuple(p.src_ip, int(p.src_port), p.dst_ip, int(p.dst_port));
      const std::uint32_t length = static_cast<std::uint32_t>(p.frame.size() - p.payload_offset) +
                                   ((p.tcp_flags & 0x03) ? 1 : 0);  // SYN/FIN count one
      auto it = next_seq.find(key);
      if (it != next_seq.end() && !(p.tcp_flags & 0x04)) {
        EXPECT_EQ(p.seq, it->second);
        ++checked;
      }
      next_seq[key] = p.seq + length;
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(Synth, DeterministicInTheSeed) {
  const std::string a = testing::make_temp_dir("synth-a"), b = testing::make_temp_dir("synth-b"),
                    c = testing::make_temp_dir("synth-c");
  SynthOptions options;
  options.flows = 120;
  options.hosts = 12;
  options.seed = 99;
  options.out_dir = a;
  generate_corpus(options);
  options.out_dir = b;
  generate_corpus(options);
  options.out_dir = c;
  options.seed = 100;
  generate_corpus(options);
  EXPECT_EQ(testing::read_text_file(a + "/synth-00000.pcap"),
            testing::read_text_file(b + "/synth-00000.pcap"));
  EXPECT_EQ(testing::read_text_file(a + "/labels.csv"), testing::read_text_file(b + "/labels.csv"));
  EXPECT_NE(testing::read_text_file(a + "/synth-00000.pcap"),
            testing::read_text_file(c + "/synth-00000.pcap"));
  for (const auto& d : {a, b, c}) testing::remove_tree(d);
}

TEST(Synth, RejectsUnusableOptions) {
  SynthOptions options;
  options.out_dir = testing::make_temp_dir("synth-bad");
  options.hosts = 1;
  EXPECT_THROW(generate_corpus(options), std::invalid_argument);
  options.hosts = 10;
  options.class_weights = {0, 0, 0, 0, 0, 0};
  EXPECT_THROW(generate_corpus(options), std::invalid_argument);
  testing::remove_tree(options.out_dir);
}

}  // namespace
}  // namespace trafficfm::datasets::synth

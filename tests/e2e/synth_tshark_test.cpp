// tshark, an independent dissector, decodes the synthetic capture as the protocols synth says
// it wrote: TLS ClientHellos carry the SNI names of labels.csv, DNS queries the names, HTTP
// requests the Host headers with chunked 200 responses, SSH flows their banners and KEXINITs;
// and tshark's conversation table matches labels.csv one to one.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "datasets/synth/generator.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

struct Row {
  std::string l4, client, server, label, name;
  int client_port, server_port;
};

std::vector<std::vector<std::string>> split_lines(const std::string& text, char separator) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::string field;
    std::stringstream ls(line);
    while (std::getline(ls, field, separator)) fields.push_back(field);
    if (line.back() == separator) fields.push_back("");
    rows.push_back(fields);
  }
  return rows;
}

class SynthTshark : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!program_available("tshark")) return;
    dir_ = make_temp_dir("synth-tshark");
    const auto r = run_command(trafficfm_binary() + " synth --flows 300 --hosts 30 --seed 11 --out " + dir_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    pcap_ = dir_ + "/synth-00000.pcap";
    const auto rows = split_lines(read_text_file(dir_ + "/labels.csv"), ',');
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const auto& f = rows[i];
      rows_.push_back(Row{f[1], f[2], f[4], f[6], f[7], std::stoi(f[3]), std::stoi(f[5])});
    }
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) remove_tree(dir_);
  }
  void SetUp() override {
    if (!program_available("tshark"))
      GTEST_SKIP() << "tshark not installed (scripts/setup.sh --test-tools installs it)";
  }
  // tshark -T fields output, one vector per packet.
  static std::vector<std::vector<std::string>> fields(const std::string& filter, const std::string& names) {
    std::string command = "tshark -n -r " + pcap_ + " -Y '" + filter + "' -T fields -E separator=/t";
    std::istringstream in(names);
    std::string name;
    while (in >> name) command += " -e " + name;
    const auto r = run_command(command + " 2>/dev/null", /*merge_stderr=*/false);
    EXPECT_EQ(r.exit_code, 0) << command;
    return split_lines(r.output, '\t');
  }
  // client ip:port -> name, for the rows of one class
  static std::map<std::string, std::string> expected_names(const std::string& label) {
    std::map<std::string, std::string> out;
    for (const auto& r : rows_) {
      if (r.label == label) out[r.client + ":" + std::to_string(r.client_port)] = r.name;
    }
    return out;
  }
  static std::string dir_, pcap_;
  static std::vector<Row> rows_;
};
std::string SynthTshark::dir_, SynthTshark::pcap_;
std::vector<Row> SynthTshark::rows_;

TEST_F(SynthTshark, TlsClientHellosCarryTheSni) {
  const auto expected = expected_names("tls");
  ASSERT_GT(expected.size(), 20u);
  std::map<std::string, std::string> seen;
  for (const auto& f :
       fields("tls.handshake.type == 1", "ip.src tcp.srcport tls.handshake.extensions_server_name")) {
    ASSERT_EQ(f.size(), 3u);
    seen[f[0] + ":" + f[1]] = f[2];
  }
  EXPECT_EQ(seen, expected);
  // ServerHello negotiates TLS 1.3 through supported_versions.
  const auto hellos = fields("tls.handshake.type == 2", "tls.handshake.extensions.supported_version");
  EXPECT_EQ(hellos.size(), expected.size());
  for (const auto& f : hellos) EXPECT_EQ(f[0], "0x0304");
}

TEST_F(SynthTshark, DnsQueriesCarryTheNames) {
  const auto expected = expected_names("dns");
  ASSERT_GT(expected.size(), 20u);
  std::map<std::string, std::string> seen;
  for (const auto& f : fields("dns.flags.response == 0", "ip.src udp.srcport dns.qry.name"))
    seen[f[0] + ":" + f[1]] = f[2];
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(fields("dns.flags.response == 1", "dns.qry.name").size(), expected.size());
}

TEST_F(SynthTshark, HttpRequestsAndChunkedResponses) {
  const auto expected = expected_names("http");
  ASSERT_GT(expected.size(), 10u);
  std::map<std::string, std::string> hosts;
  std::size_t requests = 0;
  for (const auto& f : fields("http.request", "ip.src tcp.srcport http.host http.request.method")) {
    hosts[f[0] + ":" + f[1]] = f[2];
    EXPECT_EQ(f[3], "GET");
    ++requests;
  }
  EXPECT_EQ(hosts, expected);
  const auto responses = fields("http.response", "http.response.code http.transfer_encoding");
  EXPECT_EQ(responses.size(), requests);  // every request answered, each reassembled in full
  for (const auto& f : responses) {
    EXPECT_EQ(f[0], "200");
    EXPECT_EQ(f[1], "chunked");
  }
}

TEST_F(SynthTshark, SshBannersAndKeyExchange) {
  std::set<std::string> flows;
  for (const auto& r : rows_) {
    if (r.label == "ssh") flows.insert(r.client + ":" + std::to_string(r.client_port));
  }
  ASSERT_GT(flows.size(), 5u);
  std::map<std::string, int> banners;
  for (const auto& f : fields("ssh.protocol", "ip.src tcp.srcport ip.dst tcp.dstport ssh.protocol")) {
    EXPECT_EQ(f[4].rfind("SSH-2.0-", 0), 0u) << f[4];
    const std::string client = f[3] == "22" ? f[0] + ":" + f[1] : f[2] + ":" + f[3];
    banners[client] += 1;
  }
  EXPECT_EQ(banners.size(), flows.size());
  for (const auto& [flow, count] : banners) EXPECT_EQ(count, 2) << flow;               // client and server
  EXPECT_EQ(fields("ssh.message_code == 20", "tcp.stream").size(), 2 * flows.size());  // KEXINIT
  EXPECT_EQ(fields("ssh.message_code == 31", "tcp.stream").size(), flows.size());      // ECDH reply
}

TEST_F(SynthTshark, NoMalformedPacketsInTheDecodedProtocols) {
  const auto bad = fields("_ws.malformed && !quic", "frame.number _ws.col.Protocol");
  EXPECT_TRUE(bad.empty()) << bad.size() << " malformed, first frame " << (bad.empty() ? "" : bad[0][0]);
}

TEST_F(SynthTshark, ConversationsMatchLabelsOneToOne) {
  std::map<std::string, int> expected;
  for (const auto& r : rows_) expected[r.l4] += 1;
  for (const std::string l4 : {"tcp", "udp"}) {
    const auto r = run_command("tshark -n -q -r " + pcap_ + " -z conv," + l4 + " 2>/dev/null", false);
    int conversations = 0;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) conversations += line.find("<->") != std::string::npos;
    EXPECT_EQ(conversations, expected[l4 == "tcp" ? "TCP" : "UDP"]) << l4;
  }
}

}  // namespace
}  // namespace trafficfm::testing

// Input formats and labeling options of `trafficfm prep`: pcapng and nanosecond pcap read the
// same flows as the microsecond pcap; NetFlow-v2 CSV flow logs; --label-from; --split-by file.
#include <gtest/gtest.h>

#include <fstream>

#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

using namespace datasets;

class PrepFormats : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("prep-formats");
    ASSERT_EQ(
        run_command(trafficfm_binary() + " synth --flows 120 --hosts 15 --seed 8 --flows-per-file 40 --out " +
                    dir_ + "/cap --log.level warn")
            .exit_code,
        0);
  }
  void TearDown() override { remove_tree(dir_); }
  int prep(const std::string& input, const std::string& out, const std::string& extra = "") {
    const auto r = run_command(trafficfm_binary() + " prep --input " + input + " --out " + out +
                               " --log.level warn " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code;
  }
  // Every sample's mmae bytes, sorted: equal multisets mean equal corpora up to order.
  std::vector<std::string> samples(const std::string& corpus) {
    const auto m = read_manifest(corpus);
    std::vector<std::string> out;
    for (const auto& s : m.shards) {
      ShardReader reader(corpus + "/" + s.file, m.columns);
      std::string bytes(s.samples * 1600, '\0');
      reader.read(0, 0, s.samples, bytes.data());
      for (std::uint64_t i = 0; i < s.samples; ++i) out.push_back(bytes.substr(i * 1600, 1600));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string dir_;
};

TEST_F(PrepFormats, PcapngAndNanosecondPcapGiveTheSameSamples) {
  if (!program_available("editcap")) GTEST_SKIP() << "editcap (wireshark-common) not installed";
  const std::string input = dir_ + "/cap/synth-00000.pcap";
  ASSERT_EQ(run_command("editcap -F pcapng " + input + " " + dir_ + "/x.pcapng").exit_code, 0);
  ASSERT_EQ(run_command("editcap -F nsecpcap " + input + " " + dir_ + "/x-ns.pcap").exit_code, 0);
  prep(input, dir_ + "/c-us");
  prep(dir_ + "/x.pcapng", dir_ + "/c-ng");
  prep(dir_ + "/x-ns.pcap", dir_ + "/c-ns");
  const auto reference = samples(dir_ + "/c-us");
  EXPECT_EQ(reference.size(), 40u);
  EXPECT_EQ(samples(dir_ + "/c-ng"), reference);
  EXPECT_EQ(samples(dir_ + "/c-ns"), reference);
}

TEST_F(PrepFormats, LabelFromDirectoryName) {
  run_command("mkdir -p " + dir_ + "/by/alpha " + dir_ + "/by/beta && cp " + dir_ + "/cap/synth-00000.pcap " +
              dir_ + "/by/alpha/ && cp " + dir_ + "/cap/synth-00001.pcap " + dir_ + "/by/beta/");
  prep(dir_ + "/by", dir_ + "/c-dir", "--label-from dirname");
  const auto m = read_manifest(dir_ + "/c-dir");
  EXPECT_EQ(m.label_names, (std::vector<std::string>{"alpha", "beta"}));
  const std::string summary = m.summary_json;
  EXPECT_EQ(summary.find("unlabeled"), std::string::npos) << summary;
}

TEST_F(PrepFormats, SplitByFileKeepsEachCaptureInOneSplit) {
  // Three files of 40 flows: with --split-by file each file's flows share one split, so every
  // split's sample count is a multiple of 40.
  prep(dir_ + "/cap", dir_ + "/c-file", "--split-by file --split.val 0.34 --split.test 0.33");
  const auto m = read_manifest(dir_ + "/c-file");
  for (const char* split : {"train", "val", "test"}) EXPECT_EQ(m.samples(split) % 40, 0u) << split;
  EXPECT_EQ(m.samples("train") + m.samples("val") + m.samples("test"), 120u);
}

TEST_F(PrepFormats, NetflowV2CsvFlowLogs) {
  std::ofstream csv(dir_ + "/nf.csv");
  csv << "IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,L7_PROTO,IN_BYTES,IN_PKTS,OUT_BYTES,"
         "OUT_PKTS,"
         "TCP_FLAGS,FLOW_DURATION_MILLISECONDS,MIN_IP_PKT_LEN,MAX_IP_PKT_LEN,Label,Attack\n"
         "10.0.0.1,40000,10.0.0.2,80,6,7.0,500,5,9000,8,27,1500,40,1500,0,Benign\n"
         "10.0.0.3,40001,10.0.0.2,22,6,92.0,300,3,200,2,2,10,40,60,1,Brute Force\n"
         "10.0.0.4,5353,10.0.0.2,53,17,5.0,70,1,120,1,0,0,70,120,0,Benign\n"
         "not,a,valid,row\n";
  csv.close();
  const std::string out = dir_ + "/c-nf";
  const auto r = run_command(trafficfm_binary() + " prep --input " + dir_ + "/nf.csv --out " + out +
                                 " --encoder flows --split.val 0 --split.test 0 --log.level warn",
                             false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = read_manifest(out);
  EXPECT_EQ(m.label_names, (std::vector<std::string>{"Benign", "Brute Force"}));
  ASSERT_EQ(m.samples("train"), 3u);
  EXPECT_NE(m.summary_json.find("\"bad_flow_log_rows\": 1"), std::string::npos) << m.summary_json;
  ShardReader reader(out + "/" + m.shards[0].file, m.columns);
  std::vector<float> stats(3 * 39);
  reader.read(8, 0, 3, stats.data());
  std::vector<std::int32_t> ports(3);
  reader.read(5, 0, 3, ports.data());
  for (int i = 0; i < 3; ++i) {
    if (ports[i] != 80) continue;
    EXPECT_FLOAT_EQ(stats[i * 39 + 0], 1.5f);     // duration
    EXPECT_FLOAT_EQ(stats[i * 39 + 1], 13.f);     // packets both ways
    EXPECT_FLOAT_EQ(stats[i * 39 + 12], 500.f);   // src2dst bytes
    EXPECT_FLOAT_EQ(stats[i * 39 + 22], 9000.f);  // dst2src bytes
  }
}

}  // namespace
}  // namespace trafficfm::testing

// `trafficfm prep` and `inspect` end to end: real captures from ../shared/data (skipped with a
// message when absent), the YaTC peer, Python's h5py, and parallel prep against single-rank.
#include "datasets/prep/prep.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "datasets/capture/capture_reader.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/encoders/subword_tokenizer.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

using namespace datasets;

std::string shared_or_skip() {
  const std::string dir = shared_data_dir();
  return dir;
}

bool python_has(const std::string& modules) {
  return run_command("/usr/bin/python3 -c 'import " + modules + "' 2>/dev/null").exit_code == 0;
}

TEST(PrepNdpi, NinetyPercentOfLabeledFlowsFoundWithTheirLabels) {
  const std::string data = shared_or_skip();
  if (data.empty()) GTEST_SKIP() << "../shared/data not present: real-capture acceptance test skipped";
  const std::string dir = make_temp_dir("prep-ndpi");
  PrepOptions options;
  options.out_dir = dir;
  auto labels = LabelTable::from_csv(data + "/ndpi/flows.csv");
  const auto files = list_capture_files({data + "/ndpi/pcap"});
  ASSERT_EQ(files.size(), 530u);
  const auto result = prep_files(options, files, &labels);
  const auto manifest = merge_results(options, {result}, labels.names());

  // Rate per link type, and the captures below 50%.
  std::map<std::string, int> link_of;
  for (const auto& f : files)
    link_of[std::filesystem::path(f).filename().string()] = CaptureReader(f).link_type();
  std::map<int, std::pair<std::uint64_t, std::uint64_t>> per_link;
  std::uint64_t rows = 0, matched = 0;
  for (const auto& [file, m] : labels.match_report()) {
    ASSERT_TRUE(link_of.count(file)) << file;
    per_link[link_of[file]].first += m.rows;
    per_link[link_of[file]].second += m.matched;
    rows += m.rows;
    matched += m.matched;
    if (m.rows && m.matched * 2 < m.rows) {
      std::printf("below 50%%: %s %llu/%llu\n", file.c_str(), (unsigned long long)m.matched,
                  (unsigned long long)m.rows);
    }
  }
  for (const auto& [link, rm] : per_link) {
    std::printf("link type %3d: %6llu of %6llu TCP/UDP flows found (%.1f%%)\n", link,
                (unsigned long long)rm.second, (unsigned long long)rm.first, 100.0 * rm.second / rm.first);
  }
  std::printf("all: %llu of %llu (%.2f%%)\n", (unsigned long long)matched, (unsigned long long)rows,
              100.0 * matched / rows);
  EXPECT_GE(static_cast<double>(matched) / rows, 0.90);
  EXPECT_GT(rows, 8000u);

  // The labels come through: labeled samples, per label, equal the matched rows per label.
  std::map<std::string, std::uint64_t> labeled;
  for (const auto& [key, count] : result.counts.samples) {
    const std::string label = key.substr(key.find('/') + 1);
    if (label != "unlabeled") labeled[label] += count;
  }
  std::uint64_t labeled_total = 0;
  for (const auto& [label, count] : labeled) labeled_total += count;
  // ICMP & co. rows may label flows too; a sample identical to one in another split is dropped.
  EXPECT_GE(labeled_total + result.counts.duplicates_dropped, matched);
  EXPECT_EQ(manifest.label_names.size(), 33u);
  EXPECT_GT(labeled["Web"], 1000u);
  remove_tree(dir);
}

TEST(PrepCli, AllSharedCapturesIngestWithoutCrash) {
  const std::string data = shared_or_skip();
  if (data.empty()) GTEST_SKIP() << "../shared/data not present: skipped";
  const std::string dir = make_temp_dir("prep-all");
  const auto r = run_command(trafficfm_binary() + " prep --input " + data + "/ndpi/pcap " + data +
                                 "/pretrain --out " + dir + "/corpus --encoder mmae --log.level error",
                             false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("%s", r.output.c_str());
  const auto m = read_manifest(dir + "/corpus");
  // 11,791 flows when written, 1,192 of them dropped as copies of a sample in another split.
  EXPECT_GT(m.samples("train") + m.samples("val") + m.samples("test"), 10000u);
  remove_tree(dir);
}

class PrepSynth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = make_temp_dir("prep-synth");
    ASSERT_EQ(run_command(trafficfm_binary() +
                          " synth --flows 400 --hosts 25 --seed 21 --flows-per-file 150 --out " + dir_ +
                          "/cap --log.level warn")
                  .exit_code,
              0);
  }
  static void TearDownTestSuite() { remove_tree(dir_); }
  static std::string prep(const std::string& name, const std::string& extra) {
    const std::string out = dir_ + "/" + name;
    const auto r = run_command(trafficfm_binary() + " prep --input " + dir_ + "/cap --labels " + dir_ +
                               "/cap/labels.csv --out " + out + " --shard.mb 0.1 --log.level warn " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  }
  static std::string dir_;
};
std::string PrepSynth::dir_;

TEST_F(PrepSynth, MmaeBytesEqualYatcExtractionOfEveryFlow) {
  if (!python_has("scapy.all, h5py"))
    GTEST_SKIP() << "/usr/bin/python3 lacks scapy or h5py (setup --test-tools)";
  const std::string corpus = prep("yatc", "--anonymize off");
  const auto r = run_command("/usr/bin/python3 " + source_dir() + "/bench/yatc_mfr.py compare " + dir_ +
                             "/cap " + corpus);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("compared 400 flows with YaTC extraction: 0 mismatched"), std::string::npos)
      << r.output;
}

TEST_F(PrepSynth, PythonReadsTheCorpusWithH5py) {
  if (!python_has("h5py, json")) GTEST_SKIP() << "/usr/bin/python3 lacks h5py";
  const std::string corpus = prep("h5py", "");
  // The README's snippet, verbatim in spirit: manifest -> shards -> arrays.
  const std::string script =
      "import h5py, json, sys\n"
      "m = json.load(open(sys.argv[1] + '/manifest.json'))\n"
      "n = 0\n"
      "for s in m['shards']:\n"
      "    with h5py.File(sys.argv[1] + '/' + s['file'], 'r') as f:\n"
      "        assert f['bytes'].shape == (s['samples'], 1600), f['bytes'].shape\n"
      "        assert f['stats'].shape[1] == 27\n"
      "        assert f['label'][:].max() < len(m['label_names'])\n"
      "        n += f['bytes'].shape[0]\n"
      "print('samples', n)\n";
  const auto r = run_command("/usr/bin/python3 -c \"" + script + "\" " + corpus);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("samples 400"), std::string::npos) << r.output;
}

TEST_F(PrepSynth, InspectSummarizesAndDecodesEachEncoding) {
  const std::string mmae = prep("inspect-mmae", "");
  auto r = run_command(trafficfm_binary() + " inspect " + mmae + " --sample 0", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s :
       {"encoder mmae", "samples: train", "packet 0:", "header:", "statistics:", "duration_s"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  }
  const std::string lens = prep("inspect-lens", "--encoder lens --lens.max-tokens 128");
  r = run_command(trafficfm_binary() + " inspect " + lens + " --sample 1 --split val", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"encoder lens", "<pkt> <head>", "[header]", "</s>"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  }
  const std::string flows = prep("inspect-flows", "--encoder flows");
  r = run_command(trafficfm_binary() + " inspect " + flows + " --sample 2", false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"encoder flows", "src host", "bi_packets"}) {
    EXPECT_NE(r.output.find(s), std::string::npos) << s << "\n" << r.output;
  }
  r = run_command(trafficfm_binary() + " inspect " + mmae + " --sample 100000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = run_command(trafficfm_binary() + " prep --input " + dir_ + "/cap --out " + mmae + " --log.level error");
  EXPECT_EQ(r.exit_code, 2) << "an existing corpus is not overwritten silently\n" << r.output;
}

TEST_F(PrepSynth, LensWithATrainedSentencePieceTokenizer) {
  const std::string corpus =
      prep("spm", "--encoder lens --lens.tokenizer spm --lens.spm-vocab 1500 --lens.max-tokens 256");
  const auto m = read_manifest(corpus);
  EXPECT_NE(m.encoder_settings_json.find("\"tokenizer\": \"spm\""), std::string::npos)
      << m.encoder_settings_json;
  const auto tokenizer = load_spm_tokenizer(corpus + "/tokenizer.model");
  const SubwordTokenizer& spm = *tokenizer;
  EXPECT_GT(spm.vocab_size(), 1000);
  EXPECT_EQ(spm.piece(5), "<pkt>");
  EXPECT_EQ(spm.piece(6), "<extra_id_0>");
  const ShardInfo shard = m.shards_of("train").front();
  ShardReader reader(corpus + "/" + shard.file, m.columns);
  std::vector<std::int32_t> tokens(256);
  std::vector<std::int8_t> segments(256);
  reader.read(0, 0, 1, tokens.data());
  reader.read(1, 0, 1, segments.data());
  ASSERT_EQ(tokens[0], 5);  // <pkt>
  ASSERT_EQ(tokens[1], 4);  // <head>
  std::vector<int> header;
  for (int i = 2; segments[i] == 1; ++i) header.push_back(tokens[i]);
  // The header pieces decode back to the anonymized IPv4 header: 45 00 ..., addresses zeroed.
  const std::string text = spm.decode(header);
  ASSERT_GE(text.size(), 40u) << text;
  EXPECT_EQ(text.substr(0, 2), "45") << text;
  EXPECT_EQ(text.substr(24, 16), std::string(16, '0')) << text;
  auto r = run_command(trafficfm_binary() + " inspect " + corpus + " --sample 0", false);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("<pkt> <head>"), std::string::npos) << r.output;
}

// (flow hash, split, label) -> the sample's bytes, over a whole corpus.
std::map<std::tuple<std::uint64_t, std::string, int>, std::vector<std::uint8_t>> corpus_rows(
    const std::string& dir) {
  const auto m = read_manifest(dir);
  std::map<std::tuple<std::uint64_t, std::string, int>, std::vector<std::uint8_t>> rows;
  for (const auto& s : m.shards) {
    ShardReader reader(dir + "/" + s.file, m.columns);
    std::vector<std::uint8_t> bytes(s.samples * 1600);
    std::vector<std::int32_t> labels(s.samples);
    std::vector<std::uint64_t> hashes(s.samples);
    reader.read(0, 0, s.samples, bytes.data());
    reader.read(5, 0, s.samples, labels.data());
    reader.read(6, 0, s.samples, hashes.data());
    for (std::uint64_t i = 0; i < s.samples; ++i) {
      rows[{hashes[i], s.split, labels[i]}] =
          std::vector<std::uint8_t>(bytes.begin() + i * 1600, bytes.begin() + (i + 1) * 1600);
    }
  }
  return rows;
}

TEST_F(PrepSynth, ParallelPrepOnTwoAndThreeRanksEqualsSingleRank) {
  const std::string single = prep("single", "");
  const auto expected = corpus_rows(single);
  ASSERT_EQ(expected.size(), 400u);
  for (int ranks : {2, 3}) {
    const std::string out = dir_ + "/ranks" + std::to_string(ranks);
    const auto r = run_command("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec -n " +
                               std::to_string(ranks) + " --oversubscribe " + trafficfm_binary() +
                               " prep --input " + dir_ + "/cap --labels " + dir_ + "/cap/labels.csv --out " +
                               out + " --shard.mb 0.1 --log.level warn");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(corpus_rows(out), expected) << ranks << " ranks";
    std::set<std::string> files;
    for (const auto& s : read_manifest(out).shards) files.insert(s.file);
    EXPECT_GE(files.size(), static_cast<std::size_t>(ranks));
    EXPECT_FALSE(std::filesystem::exists(out + "/.prep-rank-0.json"));
  }
}

TEST(PrepFlowLogs, ZeekConnLogsBecomeLabeledFlowRecords) {
  const std::string data = shared_or_skip();
  if (data.empty()) GTEST_SKIP() << "../shared/data not present: skipped";
  const std::string dir = make_temp_dir("prep-zeek");
  const auto r = run_command(trafficfm_binary() + " prep --input " + data + "/flows --out " + dir +
                                 "/corpus --encoder flows --log.level warn",
                             false);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = read_manifest(dir + "/corpus");
  EXPECT_EQ(m.samples("train") + m.samples("val") + m.samples("test"), 25790u);
  EXPECT_EQ(m.label_names, (std::vector<std::string>{"Background", "Benign", "Malicious"}));
  EXPECT_NE(r.output.find("train/Malicious"), std::string::npos) << r.output;
  remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::testing

// Splits that cannot leak: flows that differ only in what anonymization removes (addresses,
// ports) encode to identical samples, and their 5-tuples scatter them over train, val and test.
// prep keeps each content in one split only and reports how many copies it dropped.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/sha256.h"
#include "datasets/corpus/manifest.h"
#include "datasets/corpus/shard_file.h"
#include "datasets/net/packet_builder.h"
#include "datasets/prep/prep.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

using namespace datasets;

// 300 one-packet UDP probes from 300 addresses and ports with the same payload (a scan), and 40
// flows whose payloads differ.
void write_scan_capture(const std::string& path) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(out, nullptr) << pcap_geterr(dead);
  const Host target{{2, 0, 0, 0, 0, 1}, 0x0a090909u};
  auto dump = [&](const std::vector<std::uint8_t>& frame, int i) {
    pcap_pkthdr header{};
    header.ts.tv_sec = 1700000000 + i;
    header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(out), &header, frame.data());
  };
  const std::string probe = "PROBE v1: are you there? ..............";
  for (int i = 0; i < 300; ++i) {
    const Host source{{2, 0, 0, 0, 1, static_cast<std::uint8_t>(i)},
                      0x0a000000u + 256u * (i / 200) + 1u + i % 200};
    dump(build_udp_frame(source, target, 4242, static_cast<std::uint16_t>(30000 + i), 161,
                         reinterpret_cast<const std::uint8_t*>(probe.data()), probe.size()),
         i);
  }
  for (int i = 0; i < 40; ++i) {
    const Host source{{2, 0, 0, 0, 2, static_cast<std::uint8_t>(i)}, 0x0b000001u + i};
    const std::string payload = "distinct payload number " + std::to_string(i * 7919);
    dump(build_udp_frame(source, target, static_cast<std::uint16_t>(i), static_cast<std::uint16_t>(40000 + i),
                         9999, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
         300 + i);
  }
  pcap_dump_close(out);
  pcap_close(dead);
}

// Content digest of every sample (its encoder columns) -> the splits it is stored in.
std::map<std::string, std::set<std::string>> splits_by_content(const std::string& corpus) {
  const Manifest m = read_manifest(corpus);
  std::map<std::string, std::set<std::string>> out;
  for (const auto& shard : m.shards) {
    ShardReader reader(corpus + "/" + shard.file, m.columns);
    std::vector<std::vector<std::uint8_t>> columns;
    for (std::size_t c = 0; c < m.columns.size(); ++c) {
      if (m.columns[c].name == "label" || m.columns[c].name == "flow_hash") continue;
      columns.emplace_back(shard.samples * m.columns[c].bytes_per_sample());
      reader.read(c, 0, shard.samples, columns.back().data());
    }
    for (std::uint64_t row = 0; row < shard.samples; ++row) {
      core::Sha256 digest;
      for (const auto& bytes : columns) {
        const std::size_t width = bytes.size() / shard.samples;
        digest.update(bytes.data() + row * width, width);
      }
      out[digest.hex_digest()].insert(shard.split);
    }
  }
  return out;
}

Manifest prep(const std::string& capture, const std::string& out, bool dedup) {
  PrepOptions options;
  options.out_dir = out;
  options.encoder = "mmae";
  options.val_fraction = 0.2;
  options.test_fraction = 0.2;
  options.dedup_across_splits = dedup;
  std::filesystem::create_directories(out);
  const auto result = prep_files(options, {capture}, nullptr);
  return merge_results(options, {result}, {});
}

TEST(PrepDedup, FlowsThatDifferOnlyInAddressesAndPortsLandInOneSplit) {
  const std::string dir = make_temp_dir("prep-dedup");
  const std::string capture = dir + "/scan.pcap";
  write_scan_capture(capture);

  // Without de-duplication the leak is there: one content in two or three splits.
  prep(capture, dir + "/off", false);
  std::size_t leaked = 0;
  for (const auto& [content, splits] : splits_by_content(dir + "/off")) leaked += splits.size() > 1;
  ASSERT_GE(leaked, 1u) << "the capture should produce identical samples in several splits";

  const Manifest m = prep(capture, dir + "/on", true);
  const auto contents = splits_by_content(dir + "/on");
  for (const auto& [content, splits] : contents)
    EXPECT_EQ(splits.size(), 1u) << "a sample in " << splits.size() << " splits";
  // 41 distinct contents (the probe and 40 others) survive; the copies of the probe that fell
  // into another split than its first are counted.
  EXPECT_EQ(contents.size(), 41u);
  const std::uint64_t kept = m.samples("train") + m.samples("val") + m.samples("test");
  const std::string summary = format_summary(m);
  EXPECT_NE(summary.find(std::to_string(340 - kept) + " dropped as identical to a sample of another split"),
            std::string::npos)
      << summary;
  EXPECT_GT(340 - kept, 50u);  // most probes' 5-tuples hash to the other splits (40% of them)
  EXPECT_NE(m.encoder_settings_json.find("\"dedup_across_splits\": true"), std::string::npos)
      << m.encoder_settings_json;
  remove_tree(dir);
}

}  // namespace
}  // namespace trafficfm::testing

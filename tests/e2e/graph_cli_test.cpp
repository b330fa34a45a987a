// The graph model through the CLI: prep --encoder graph of a generated Zeek conn log with big
// windows cut into METIS parts, h5py reading a sample with two slices (docs/graph.md),
// link-prediction pretraining at dp 2 following the single-rank curve on the same samples, a
// 2-rank run killed mid-way resuming bitwise, flow-node fine-tuning (few-shot, at dp 2 following
// one rank, eval, the no-graph baseline), and bad flow logs named with what is wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/json_value.h"
#include "core/rng.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

// A Zeek conn log: `flows` connections among 40 hosts over 80 s; host 1 is the "monitored" one
// and inbound connections to it are labeled Malicious.
void write_conn_log(const std::string& path, int flows, bool reversed = false) {
  std::vector<std::string> rows;
  std::uint64_t state = 5;
  for (int i = 0; i < flows; ++i) {
    const int src = 1 + static_cast<int>(core::splitmix64(state) % 40);
    const int dst = 1 + static_cast<int>(core::splitmix64(state) % 40);
    const double ts = 1000.0 + 80.0 * i / flows;
    const double duration = static_cast<double>(core::splitmix64(state) % 300) / 100.0;
    const bool tcp = core::splitmix64(state) % 3 != 0;
    std::ostringstream row;
    row.precision(17);
    row << ts << "\tC" << i << "\t10.0.0." << src << "\t" << 40000 + i << "\t10.0.0." << dst << "\t"
        << (tcp ? 443 : 53) << "\t" << (tcp ? "tcp" : "udp") << "\t-\t" << duration << "\t"
        << core::splitmix64(state) % 5000 << "\t" << core::splitmix64(state) % 90000
        << "\tSF\tF\tF\t0\tShAdDaf\t" << 1 + core::splitmix64(state) % 30 << "\t"
        << 100 + core::splitmix64(state) % 9000 << "\t" << core::splitmix64(state) % 60 << "\t"
        << core::splitmix64(state) % 90000 << "\t(empty)\t" << (dst == 1 ? "Malicious" : "Benign")
        << "\t(empty)\n";
    rows.push_back(row.str());
  }
  if (reversed) std::reverse(rows.begin(), rows.end());
  std::ofstream out(path);
  out << "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
         "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_"
         "bytes\t"
         "resp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\t"
         "resp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel\n"
         "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tb"
         "ool\t"
         "count\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\n";
  for (const auto& r : rows) out << r;
}

struct Fixture {
  std::string dir, corpus, config;
  ~Fixture() { remove_tree(dir); }  // at exit: nothing left in the temp dir
  Fixture() {
    dir = make_temp_dir("graph_cli");
    write_conn_log(dir + "/conn.log", 2000);
    corpus = dir + "/graph";
    const auto r =
        run_command(trafficfm_binary() +
                    " prep --encoder graph --graph.window 1 --graph.max-nodes 200 --split.val 0.2 --out " +
                    corpus + " " + dir + "/conn.log");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("parts (edge cut"), std::string::npos) << r.output;
    config = dir + "/micro.ini";
    std::ofstream(config) << "model = graph\n[graph]\nhidden = 16\n[train]\nbatch-nodes = 700\nlr = 3e-3\n"
                             "log-every = 1\neval-every = 5\neval-batches = 2\nthreads = 1\n";
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

std::string pretrain(const std::string& run, const std::string& extra) {
  return trafficfm_binary() + " pretrain --config " + fixture().config + " --corpus " + fixture().corpus +
         " --out " + run + " " + extra;
}

std::vector<double> losses(const std::string& run) {
  std::vector<double> out;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    out.push_back(core::JsonValue::parse(line)["loss"].as_number());
  return out;
}

TEST(GraphCli, PrepWritesRaggedSamplesThatH5pyReadsWithTwoSlices) {
  if (!program_available("/usr/bin/python3") ||
      run_command("/usr/bin/python3 -c 'import h5py'").exit_code != 0) {
    GTEST_SKIP() << "no /usr/bin/python3 with h5py";
  }
  // The docs/graph.md example: sample i's edges are edges[offsets[i]:offsets[i+1]].
  const std::string script = fixture().dir + "/read.py";
  std::ofstream(script) << "import glob, json, sys, h5py\n"
                           "corpus = sys.argv[1]\n"
                           "m = json.load(open(corpus + '/manifest.json'))\n"
                           "assert m['encoder'] == 'graph'\n"
                           "parts = 0\n"
                           "for name in sorted(glob.glob(corpus + '/shard-*.h5')):\n"
                           "    f = h5py.File(name, 'r')\n"
                           "    for i in range(len(f['nodes'])):\n"
                           "        o = f['edges.offsets']\n"
                           "        edges = f['edges'][o[i]:o[i + 1]]\n"
                           "        fo, io = f['flow_stats.offsets'], f['ip_slice.offsets']\n"
                           "        flows, ips = fo[i + 1] - fo[i], io[i + 1] - io[i]\n"
                           "        assert flows + ips == f['nodes'][i], (name, i)\n"
                           "        assert len(edges) + f['nodes'][i] == f['cost'][i], (name, i)\n"
                           "        parts = max(parts, f['part'][i][1])\n"
                           "print('parts', parts)\n";
  const auto r = run_command("/usr/bin/python3 " + script + " " + fixture().corpus);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("parts 1\n"), std::string::npos) << "no graph was partitioned: " << r.output;
}

std::string finetune(const std::string& run, const std::string& extra) {
  return trafficfm_binary() + " finetune --config " + fixture().config + " --corpus " + fixture().corpus +
         " --out " + run + " " + extra;
}

// Two runs' loss curves: `steps` steps each, equal within 1e-5 relative.
void expect_same_curve(const std::string& one, const std::string& two, std::size_t steps) {
  const auto a = losses(one), b = losses(two);
  ASSERT_EQ(a.size(), steps);
  ASSERT_EQ(b.size(), steps);
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(a[i])) << "step " << i + 1;
}

double sum_of(const core::JsonValue& array) {
  double total = 0;
  for (const auto& v : array.as_array()) total += v.as_number();
  return total;
}

TEST(GraphCli, ShippedConfigsPretrainAndFinetuneClassifiesFlowNodes) {
  for (const std::string name : {"graph-tiny", "graph-base"}) {
    const std::string run = fixture().dir + "/" + name;
    const auto r = run_command(trafficfm_binary() + " pretrain --config " + source_dir() + "/configs/" +
                               name + ".ini --corpus " + fixture().corpus + " --out " + run +
                               " --train.steps 2 --train.eval-every 2 --train.threads 1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(read_text_file(run + "/eval.jsonl").find("val_link_auc"), std::string::npos);
    EXPECT_NE(r.output.find("training FLOPs per edge sends "), std::string::npos) << r.output;
  }
  // Few-shot: 5 labelled train flows per class, from the graphs of every split.
  const std::string ft = fixture().dir + "/ft";
  auto r = run_command(trafficfm_binary() + " finetune --config " + source_dir() +
                       "/configs/graph-tiny.ini --corpus " + fixture().corpus + " --from " + fixture().dir +
                       "/graph-tiny --out " + ft +
                       " --shots 5 --train.steps 4 --train.eval-every 2 --train.threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("10 labeled training nodes"), std::string::npos) << r.output;
  const auto plan = core::JsonValue::parse(read_text_file(ft + "/labeled_subset.json"));
  EXPECT_EQ(plan["unit"].as_string(), "nodes");
  EXPECT_EQ(plan["node_splits"].as_string(), "train+val+test");
  EXPECT_EQ(plan["train_nodes"].as_array().size(), 10u);
  const auto report = core::JsonValue::parse(read_text_file(ft + "/report.json"));
  EXPECT_EQ(report["unit"].as_string(), "nodes");
  EXPECT_EQ(report["labeled_train_units"].as_int(), 10);
  // The report counts every test flow of the kept classes, once.
  const double test_nodes = sum_of(plan["samples_per_class"]["test"]);
  EXPECT_GT(test_nodes, 100);
  EXPECT_EQ(report["samples"].as_number(), test_nodes);
  r = run_command(trafficfm_binary() + " eval --from " + ft + " --corpus " + fixture().corpus +
                  " --split test --report " + fixture().dir + "/eval.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto again = core::JsonValue::parse(read_text_file(fixture().dir + "/eval.json"));
  EXPECT_EQ(again["samples"].as_number(), test_nodes);
  EXPECT_EQ(again["macro_f1"].as_number(), report["macro_f1"].as_number())
      << "eval measures what finetune did";
  r = run_command(trafficfm_binary() + " finetune --config " + source_dir() +
                  "/configs/graph-tiny.ini --corpus " + fixture().corpus + " --from-scratch --out " +
                  fixture().dir + "/ft-probe --finetune.freeze embed");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no embedding table"), std::string::npos) << r.output;
}

TEST(GraphCli, NodeFinetuneAtTwoRanksFollowsOneRankAndTheMlpBaselineRuns) {
  const std::string base = fixture().dir + "/ft-base";
  auto r = run_command(pretrain(base, "--train.steps 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string one = fixture().dir + "/ft-one", two = fixture().dir + "/ft-two";
  const std::string args = "--from " + base + " --label-fraction 0.5 --train.steps 6 --train.eval-every 3";
  r = run_command(finetune(one, args + " --train.batch-nodes 1400"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + finetune(two, args));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(one, two, 6);
  const auto ra = core::JsonValue::parse(read_text_file(one + "/report.json"));
  const auto rb = core::JsonValue::parse(read_text_file(two + "/report.json"));
  EXPECT_EQ(ra["samples"].as_number(), rb["samples"].as_number());
  EXPECT_NEAR(ra["macro_f1"].as_number(), rb["macro_f1"].as_number(), 1e-9);
  EXPECT_EQ(ra["best_step"].as_int(), rb["best_step"].as_int());
  r = run_command(finetune(fixture().dir + "/ft-mlp", "--from-scratch --graph.layers 0 --train.steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(pretrain(fixture().dir + "/no-layers", "--graph.layers 0 --train.steps 1"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // A DistMult-pretrained encoder fine-tunes too (its relation vectors are not trained there).
  r = run_command(pretrain(fixture().dir + "/distmult", "--graph.decoder distmult --train.steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(finetune(fixture().dir + "/ft-distmult",
                           "--from " + fixture().dir + "/distmult --graph.decoder distmult --train.steps 2"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // So does one pretrained with attribute masking and the link bias, with or without their flags at
  // fine-tuning (the reconstruction decoder and the bias are pretraining's alone: the classifier
  // leaves them out).
  r = run_command(
      pretrain(fixture().dir + "/masked", "--graph.mask 0.2 --graph.link-bias true --train.steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_text_file(fixture().dir + "/masked/metrics.jsonl").find("mask_mse"), std::string::npos);
  for (const std::string extra : {"--graph.mask 0.2 --graph.link-bias true", ""}) {
    r = run_command(finetune(fixture().dir + "/ft-masked" + (extra.empty() ? "" : "-flag"),
                             "--from " + fixture().dir + "/masked --train.steps 2 " + extra));
    EXPECT_EQ(r.exit_code, 0) << extra << "\n" << r.output;
  }
}

TEST(GraphCli, InspectDecodesAGraphSample) {
  const auto r = run_command(trafficfm_binary() + " inspect " + fixture().corpus + " --sample 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("flow, "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sends"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("labeled"), std::string::npos) << r.output;
}

TEST(GraphCli, TwoRanksFollowTheSingleRankCurveOnTheSameSamples) {
  // One rank with a budget of 1,400 nodes takes the same graphs per step as two with 700 each.
  const std::string one = fixture().dir + "/one", two = fixture().dir + "/two";
  auto r = run_command(pretrain(one, "--train.steps 8 --train.batch-nodes 1400"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + pretrain(two, "--train.steps 8"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(one, two, 8);
  const auto a = losses(one);
  // Steps of several graphs, so both ranks had some (a step of one graph leaves rank 1 a filler).
  double samples = 0;
  std::ifstream in(one + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = core::JsonValue::parse(line);
    samples += j["samples_per_s"].as_number() * j["step_time_s"].as_number();
  }
  EXPECT_GT(samples, 2.5 * 8) << "too few graphs per step for the comparison to mean anything";
  EXPECT_LT(a.back(), a.front()) << "link prediction did not learn";
  const auto eval = read_text_file(two + "/eval.jsonl");
  EXPECT_NE(eval.find("val_link_auc"), std::string::npos) << eval;
  // Attribute masking draws per sample and counts its squared errors per scored pair; DistMult's
  // vectors and the link bias are replicated parameters: two ranks still follow one, and the
  // objective is another one.
  const std::string mask_one = fixture().dir + "/mask-one", mask_two = fixture().dir + "/mask-two";
  const std::string objective =
      "--graph.mask 0.2 --graph.decoder distmult --graph.link-bias true --train.steps 8";
  r = run_command(pretrain(mask_one, objective + " --train.batch-nodes 1400"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + pretrain(mask_two, objective));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_curve(mask_one, mask_two, 8);
  EXPECT_NE(losses(mask_one).front(), a.front());
}

TEST(GraphCli, TwoRankRunKilledMidwayResumesBitwise) {
  const std::string straight = fixture().dir + "/straight", killed = fixture().dir + "/killed";
  auto r = run_command(mpirun(2) + pretrain(straight, "--train.steps 60"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_killed_after_metric_lines(mpirun(2) + pretrain(killed, "--train.steps 60 --train.ckpt-every 8"),
                                    killed, 20);
  ASSERT_TRUE(std::ifstream(killed + "/metrics.jsonl").good()) << r.output;
  if (std::ifstream(killed + "/checkpoints/step-00000060").good()) {
    GTEST_SKIP() << "the run ended before the kill (machine too fast for this check)";
  }
  r = run_command(mpirun(2) + pretrain(killed, "--train.steps 60 --train.ckpt-every 8 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from"), std::string::npos) << r.output;
  const auto a = metric_prefixes(straight), b = metric_prefixes(killed);
  ASSERT_EQ(a.size(), 60u);
  ASSERT_EQ(b.size(), 60u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

TEST(GraphCli, RowsOutOfTimeOrderGiveTheSameGraphs) {
  const std::string dir = fixture().dir + "/order";
  run_command("mkdir -p " + dir);
  write_conn_log(dir + "/conn.log", 300, /*reversed=*/true);
  write_conn_log(dir + "/sorted-conn.log", 300);
  for (const std::string name : {"conn.log", "sorted-conn.log"}) {
    const auto r = run_command(trafficfm_binary() + " prep --encoder graph --out " + dir + "/" + name +
                               ".corpus " + dir + "/" + name);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const auto a = core::JsonValue::parse(read_text_file(dir + "/conn.log.corpus/manifest.json"));
  const auto b = core::JsonValue::parse(read_text_file(dir + "/sorted-conn.log.corpus/manifest.json"));
  ASSERT_EQ(a["shards"].as_array().size(), b["shards"].as_array().size());
  for (std::size_t i = 0; i < a["shards"].as_array().size(); ++i) {
    EXPECT_EQ(a["shards"].as_array()[i]["samples"].as_int(), b["shards"].as_array()[i]["samples"].as_int());
  }
}

TEST(GraphCli, SplitByTimePutsEachSourcesLastFlowsInValAndTest) {
  if (run_command("/usr/bin/python3 -c 'import h5py'").exit_code != 0) GTEST_SKIP() << "no h5py";
  const std::string corpus = fixture().dir + "/by-time";
  auto r = run_command(trafficfm_binary() + " prep --encoder graph --split-by time --graph.window 1 --out " +
                       corpus + " " + fixture().dir + "/conn.log");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 80 s of flows: train the first 56 s, val to 68 s, test after; graphs span 5 s, so a graph of
  // the train split holds no test flow, and the test split's graphs no train flow.
  const std::string script = fixture().dir + "/by_time.py";
  std::ofstream(script) << "import json, sys, h5py, numpy as np\n"
                           "c = sys.argv[1]\n"
                           "m = json.load(open(c + '/manifest.json'))\n"
                           "assert m['encoder_settings']['split_by'] == 'time'\n"
                           "seen = {}\n"
                           "for s in m['shards']:\n"
                           "    f = h5py.File(c + '/' + s['file'], 'r')\n"
                           "    splits = set(np.unique(f['flow_split'][:]).tolist())\n"
                           "    seen[s['split']] = seen.get(s['split'], set()) | splits\n"
                           "print(sorted((k, sorted(v)) for k, v in seen.items()))\n"
                           "assert 2 not in seen['train'] and 0 not in seen['test'], seen\n";
  r = run_command("/usr/bin/python3 " + script + " " + corpus);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " prep --encoder mmae --split-by time --out " + fixture().dir +
                  "/no " + fixture().dir + "/conn.log");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(GraphCli, FlowLogWithoutPortOrProtocolColumnsIsNamedWithThem) {
  const std::string path = fixture().dir + "/bad-conn.log";
  std::ofstream(path) << "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.resp_h\tid.resp_p\tduration\n"
                         "1.0\tC1\t10.0.0.1\t10.0.0.2\t80\t0.5\n";
  const auto r =
      run_command(trafficfm_binary() + " prep --encoder graph --out " + fixture().dir + "/bad " + path);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("id.orig_p, proto"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not a readable pcap"), std::string::npos) << r.output;
  // Times that cannot be one clock (1e14 s after the others) fail the file by name, no crash.
  const std::string mixed = fixture().dir + "/mixed-conn.log";
  write_conn_log(mixed, 50);
  std::ofstream(mixed, std::ios::app)
      << "1e14\tCx\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t1\t1\t1\tSF\tF\tF\t0\tS\t1\t40\t1\t40\t(empty)\t"
         "Benign\t(empty)\n";
  const auto m =
      run_command(trafficfm_binary() + " prep --encoder graph --out " + fixture().dir + "/mixed " + mixed);
  EXPECT_NE(m.output.find(mixed + ": graph: 1 flows start more than"), std::string::npos) << m.output;
}

}  // namespace
}  // namespace trafficfm::testing

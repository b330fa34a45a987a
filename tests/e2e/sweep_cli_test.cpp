// `trafficfm sweep` end to end on a micro MMAE over a synth corpus: plan an IsoFLOP sweep (a
// rung that cannot be built at the runs' tp is named and left out), run it locally, stopped by
// SIGTERM in the middle and continued without redoing finished points, a diverged point that
// the fit names and leaves out, a fit with Chinchilla's whole grid that writes fit.json, fit.txt
// and four plots (opened and checked not blank), predict; runs files that lack a column or hold
// a bad row; the FLOPs and parameter counts the runs record.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/json_value.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  std::string dir, corpus, config, ladder;
  ~Fixture() { remove_tree(dir); }  // at exit: nothing left in the temp dir
  Fixture() {
    dir = make_temp_dir("sweep_cli");
    corpus = make_synth_corpus(dir, {300, 4});
    config = dir + "/micro.ini";
    std::ofstream(config)
        << "model = mmae\n[mmae]\ndepth = 1\ndecoder-depth = 1\ndecoder-heads = 2\n"
           "rank-pairs = 50\n[train]\nbatch-size = 4\nlr = 2e-3\nlog-every = 1\nthreads = 1\n";
    // Three sizes, and one whose learning rate makes every step non-finite.
    ladder = dir + "/ladder.tsv";
    std::ofstream(ladder)
        << "# rung  sizes, and a learning rate\nname  mmae.dim  mmae.heads  mmae.decoder-dim  "
           "train.lr\na 8 2 8 2e-3\nb 16 2 8 2e-3\nc 24 2 8 2e-3\nboom 32 2 8 1e30\n";
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

core::JsonValue read_json(const std::string& path) { return core::JsonValue::parse(read_text_file(path)); }

std::string sweep(const std::string& verb_and_args) { return trafficfm_binary() + " sweep " + verb_and_args; }

TEST(SweepCli, PlanRunStoppedAndContinuedFitPlotsAndPredict) {
  const auto& f = fixture();
  const std::string s = f.dir + "/sweep";
  auto r = run_command(sweep("plan --config " + f.config + " --ladder " + f.ladder + " --corpus " + f.corpus +
                             " --out " + s + " --budgets 1e10,2e10 --min-steps 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = read_json(s + "/sweep.json");
  ASSERT_EQ(plan["points"].as_array().size(), 8u) << r.output;
  EXPECT_TRUE(fs::exists(s + "/plan.tsv") && fs::exists(s + "/sweep.txt") && fs::exists(s + "/base.ini"));

  // Stopped by SIGTERM once the second point has logged a step; the running point checkpoints.
  const std::string second = s + "/runs/" + plan["points"].as_array()[1]["name"].as_string();
  std::ofstream(s + ".stop.sh") << sweep("run " + s + " --local") << " > " << s
                                << ".first.log 2>&1 &\npid=$!\n"
                                << "for i in $(seq 1 1200); do [ -s " << second
                                << "/metrics.jsonl ] && break; sleep 0.05; done\nkill -TERM $pid\nwait $pid\n"
                                << "echo rc=$?\n";
  r = run_command("bash " + s + ".stop.sh");
  EXPECT_NE(r.output.find("rc=75"), std::string::npos) << r.output << read_text_file(s + ".first.log");
  const std::string first = s + "/runs/" + plan["points"].as_array()[0]["name"].as_string();
  ASSERT_TRUE(read_json(first + "/summary.json")["finished"].as_bool());
  const std::string first_metrics = read_text_file(first + "/metrics.jsonl");
  std::size_t finished_before = 0;
  for (const auto& p : plan["points"].as_array()) {
    const std::string run = s + "/runs/" + p["name"].as_string();
    if (fs::exists(run + "/summary.json") && read_json(run + "/summary.json")["finished"].as_bool())
      ++finished_before;
  }
  EXPECT_LT(finished_before, 8u) << "the stop came after the sweep's end";

  // Continued: finished points are skipped, the stopped one resumes, the diverged ones fail.
  r = run_command(sweep("run " + s + " --local"));
  EXPECT_EQ(r.exit_code, 1) << "two points diverge\n" << r.output;
  EXPECT_NE(r.output.find(std::to_string(finished_before) + " of 8 points already finished"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(resuming)"), std::string::npos) << r.output;
  EXPECT_EQ(read_text_file(first + "/metrics.jsonl"), first_metrics) << "a finished point was run again";

  // What a run records: its FLOPs (the analytic count the plan used) and parameter counts.
  const auto summary = read_json(first + "/summary.json");
  const auto& point = plan["points"].as_array()[0];
  EXPECT_NEAR(summary["flops"].as_number() /
                  (point["flops_per_sample"].as_number() * static_cast<double>(summary["samples"].as_int())),
              1.0, 0.01);
  EXPECT_EQ(summary["parameters"]["non_embedding"].as_number(), point["non_embedding_params"].as_number());
  const auto last_metrics = core::JsonValue::parse(first_metrics.substr(first_metrics.rfind("{\"step\"")));
  EXPECT_EQ(last_metrics["flops"].as_number(), summary["flops"].as_number());
  r = run_command(trafficfm_binary() + " export " + first + " --out " + f.dir + "/first.pt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json(f.dir + "/first.json")["parameters"]["total"].as_number(),
            summary["parameters"]["total"].as_number());

  // A point that never finished (its summary gone) and the diverged ones are named; the fit
  // goes on with the other five.
  fs::remove(first + "/summary.json");
  r = run_command(sweep("fit " + s + " --bootstrap 50 --threads 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto fit = read_json(s + "/fit.json");
  EXPECT_EQ(fit["approach3"]["starts"].as_int(), 4500) << "Chinchilla's grid of initializations";
  EXPECT_EQ(fit["points"].as_array().size(), 5u);
  std::size_t diverged = 0, unfinished = 0;
  for (const auto& l : fit["left_out"].as_array()) {
    const std::string reason = l["reason"].as_string();
    if (reason.find("diverged") != std::string::npos) {
      ++diverged;
      EXPECT_NE(l["name"].as_string().find("boom"), std::string::npos) << l["name"].as_string();
    }
    if (reason.find("never finished") != std::string::npos) {
      ++unfinished;
      EXPECT_EQ(s + "/runs/" + l["name"].as_string(), first);
    }
  }
  EXPECT_EQ(diverged, 2u) << r.output;
  EXPECT_EQ(unfinished, 1u) << r.output;
  for (const char* key : {"E", "A", "B", "alpha", "beta", "a", "b"}) {
    EXPECT_TRUE(fit["approach3"].has(key)) << key;
    EXPECT_EQ(fit["approach3"]["intervals"][key].as_array().size(), 2u) << key;
  }
  // Approach 2 either found the minima or says why not (micro runs' losses need not be convex in N).
  EXPECT_TRUE(fit["approach2"].has("a") ||
              fit["approach2"]["error"].as_string().find("budget") != std::string::npos)
      << fit["approach2"].dump();
  EXPECT_NE(read_text_file(s + "/fit.txt").find("Approach 2"), std::string::npos);
  // Each plot opens as an image of a plotted size, not one flat colour.
  const std::string check_png =
      "/usr/bin/python3 -c \"import sys, matplotlib.image as m; a = m.imread(sys.argv[1]); "
      "assert a.shape[0] >= 300 and a.shape[1] >= 300, a.shape; assert a.std() > 0.05, a.std(); "
      "print('ok')\" ";
  for (const char* plot : {"loss_vs_flops", "isoflop", "allocation", "predicted"}) {
    r = run_command(check_png + s + "/plots/" + plot + ".png");
    EXPECT_EQ(r.exit_code, 0) << plot << ": " << r.output;
  }
  r = run_command(sweep("predict " + s + " --flops 1e11"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("N_opt"), std::string::npos) << r.output;
}

TEST(SweepCli, RungThatCannotSplitOverTheRunsTpIsNamedAndLeftOut) {
  const auto& f = fixture();
  const std::string ladder = f.dir + "/tp-ladder.tsv";
  std::ofstream(ladder) << "name mmae.dim mmae.heads\ntwo 16 2\nthree 24 3\n";
  const auto r =
      run_command(sweep("plan --config " + f.config + " --ladder " + ladder + " --corpus " + f.corpus +
                        " --out " + f.dir + "/tp --budgets 1e11 --min-steps 3 -- --parallel.tp 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = read_json(f.dir + "/tp/sweep.json");
  ASSERT_EQ(plan["points"].as_array().size(), 1u) << r.output;
  EXPECT_EQ(plan["points"].as_array()[0]["rung"].as_string(), "two");
  ASSERT_EQ(plan["skipped"].as_array().size(), 1u);
  const std::string reason = plan["skipped"].as_array()[0]["reason"].as_string();
  EXPECT_NE(reason.find("tp 2"), std::string::npos) << reason;
  EXPECT_NE(plan["skipped"].as_array()[0]["what"].as_string().find("three"), std::string::npos);
}

TEST(SweepCli, GridPlanTrainsEveryRungOnEverySampleCountWithinTheLimits) {
  const auto& f = fixture();
  // 300 flows: about 240 train samples, so 4 epochs are about 960 samples.
  const auto r =
      run_command(sweep("plan --config " + f.config + " --ladder " + f.ladder + " --corpus " + f.corpus +
                        " --out " + f.dir + "/grid --grid --samples 40,400,4000 --min-steps 20"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto plan = read_json(f.dir + "/grid/sweep.json");
  EXPECT_EQ(plan["mode"].as_string(), "grid");
  std::set<std::string> names;
  for (const auto& p : plan["points"].as_array()) {
    names.insert(p["name"].as_string());
    EXPECT_EQ(p["budget"].as_number(), 0.0) << "grid points belong to no IsoFLOP budget";
    const auto& options = p["options"].as_array();
    EXPECT_EQ(options[options.size() - 2].as_string(), "--train.samples");
    EXPECT_EQ(options.back().as_string(), std::to_string(p["samples"].as_int()));
  }
  EXPECT_EQ(names, (std::set<std::string>{"d400-a", "d400-b", "d400-c", "d400-boom"}));
  std::string reasons;
  for (const auto& s : plan["skipped"].as_array())
    reasons += s["what"].as_string() + ": " + s["reason"].as_string() + "\n";
  EXPECT_NE(reasons.find("d40-a: 10 steps"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("d4e3-a: "), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("epochs of the train split (--max-epochs 4)"), std::string::npos) << reasons;
}

TEST(SweepCli, RunsFileWithoutAColumnIsRefusedAndABadRowIsNamed) {
  const auto& f = fixture();
  std::ofstream(f.dir + "/no-loss.csv") << "params,tokens,flops\n1e6,1e9,6e15\n";
  auto r = run_command(sweep("fit --runs " + f.dir + "/no-loss.csv --out " + f.dir + "/csv-fit"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("lacks the column(s) loss"), std::string::npos) << r.output;
  std::ofstream(f.dir + "/rows.csv")
      << "name,params,tokens,flops,loss\na,1e6,1e9,6e15,3.1\nb,2e6,x,1.2e16,3.0\n"
         "c,4e6,1e9,2.4e16,2.9\nd,8e6,1e9,4.8e16,2.85\n";
  r = run_command(sweep("fit --runs " + f.dir + "/rows.csv --out " + f.dir + "/csv-fit"));
  EXPECT_EQ(r.exit_code, 1) << "3 usable runs cannot fit 5 parameters\n" << r.output;
  EXPECT_NE(r.output.find("at least 5"), std::string::npos) << r.output;
  const auto fit = read_json(f.dir + "/csv-fit/fit.json");
  EXPECT_EQ(fit["points"].as_array().size(), 3u);
  ASSERT_EQ(fit["left_out"].as_array().size(), 1u);
  EXPECT_EQ(fit["left_out"].as_array()[0]["name"].as_string(), "b");
  EXPECT_NE(fit["left_out"].as_array()[0]["reason"].as_string().find("rows.csv:3"), std::string::npos);
}

}  // namespace
}  // namespace trafficfm::testing

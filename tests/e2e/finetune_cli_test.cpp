// `trafficfm finetune` and `eval` on a micro MMAE over a synth corpus: the report holds what
// users read (accuracy, macro/weighted F1, per class, confusion) and agrees with `eval`; the
// labeled choice is stratified, seeded and written down; the encoder comes from a pretraining
// run written at tp 2 into a tp 1 fine-tuning (any layout); on 2 dp ranks the fine-tuning
// reports the single-rank numbers; bad combinations are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json_value.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

struct Fixture {
  std::string dir, corpus, config, pretrained;
  Fixture() {
    dir = make_temp_dir("finetune_cli");
    corpus = make_synth_corpus(dir, {400, 4});
    config = dir + "/micro.ini";
    std::ofstream(config)
        << "model = mmae\n[mmae]\ndim = 32\ndepth = 2\nheads = 2\ndecoder-dim = 16\n"
           "decoder-depth = 1\ndecoder-heads = 2\nrank-pairs = 50\n"
           "[train]\nbatch-size = 16\nlr = 2e-3\nlog-every = 5\neval-batches = 2\nthreads = 1\n";
    pretrained = dir + "/pre";
    const auto r =
        run_command(mpirun(2) + trafficfm_binary() + " pretrain --config " + config + " --corpus " + corpus +
                    " --out " + pretrained + " --train.steps 6 --parallel.tp 2");
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

std::string finetune(const std::string& out, const std::string& extra) {
  return trafficfm_binary() + " finetune --config " + fixture().config + " --corpus " + fixture().corpus +
         " --out " + out + " " + extra;
}

namespace fs = std::filesystem;

core::JsonValue read_json(const std::string& path) { return core::JsonValue::parse(read_text_file(path)); }

TEST(FinetuneCli, ReportFromPretrainedEncoderAgreesWithEval) {
  const std::string out = fixture().dir + "/ft";
  auto r = run_command(
      finetune(out, "--from " + fixture().pretrained + " --label-fraction 0.5 --seed 7 --finetune.epochs 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("encoder from"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("macro F1"), std::string::npos) << r.output;  // the readable table
  const auto report = read_json(out + "/report.json");
  for (const char* key : {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion", "best_step"}) {
    EXPECT_TRUE(report.has(key)) << key;
  }
  const auto classes = report["classes"].as_array();
  ASSERT_GE(classes.size(), 2u);
  std::int64_t total = 0;
  for (const auto& row : report["confusion"].as_array()) {
    ASSERT_EQ(row.as_array().size(), classes.size());
    for (const auto& n : row.as_array()) total += n.as_int();
  }
  EXPECT_EQ(total, report["samples"].as_int());
  EXPECT_TRUE(std::filesystem::exists(out + "/report.txt"));
  // The report says what it measured on and how the corpus made its splits.
  EXPECT_EQ(report["split"].as_string(), "test");
  EXPECT_TRUE(report["held_out"].as_bool());
  EXPECT_EQ(report["split_policy"]["split_by"].as_string(), "flow");
  EXPECT_TRUE(report["split_policy"]["dedup_across_splits"].as_bool());
  // eval of the selected model on the same split gives the same confusion matrix.
  r = run_command(trafficfm_binary() + " eval --from " + out + " --corpus " + fixture().corpus +
                  " --split test --report " + out + "/eval.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json(out + "/eval.json")["confusion"].dump(), report["confusion"].dump());
}

TEST(FinetuneCli, LabeledChoiceIsStratifiedSeededAndWrittenDown) {
  const std::string a = fixture().dir + "/shots-a", b = fixture().dir + "/shots-b",
                    c = fixture().dir + "/shots-c";
  for (const auto& [out, seed] : {std::pair{a, 1}, std::pair{b, 1}, std::pair{c, 2}}) {
    const auto r =
        run_command(finetune(out, "--from-scratch --shots 5 --train.steps 2 --seed " + std::to_string(seed)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const auto plan_a = read_json(a + "/labeled_subset.json");
  int full = 0;  // every class gets 5, or all it has when fewer
  for (const auto& n : plan_a["samples_per_class"]["train"].as_array()) {
    EXPECT_GE(n.as_int(), 1);
    EXPECT_LE(n.as_int(), 5);
    full += n.as_int() == 5;
  }
  EXPECT_GE(full, 4);
  EXPECT_EQ(plan_a["train_samples"].dump(), read_json(b + "/labeled_subset.json")["train_samples"].dump());
  EXPECT_NE(plan_a["train_samples"].dump(), read_json(c + "/labeled_subset.json")["train_samples"].dump());
}

TEST(FinetuneCli, TwoDataParallelRanksReportTheSingleRankNumbers) {
  const std::string one = fixture().dir + "/dp1", two = fixture().dir + "/dp2";
  auto r = run_command(
      finetune(one, "--from " + fixture().pretrained + " --train.batch-size 16 --finetune.epochs 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + finetune(two, "--from " + fixture().pretrained +
                                                " --train.batch-size 8 --finetune.epochs 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Same global batch (16 = 2 x 8): the val curve and the report agree up to float rounding
  // (sums in another order); a near-tie in model selection could pick another step, so the
  // selected steps are not compared, the curves are.
  std::ifstream in1(one + "/eval.jsonl"), in2(two + "/eval.jsonl");
  std::string l1, l2;
  int lines = 0;
  while (std::getline(in1, l1) && std::getline(in2, l2)) {
    const auto a = core::JsonValue::parse(l1), b = core::JsonValue::parse(l2);
    EXPECT_EQ(a["step"].as_int(), b["step"].as_int());
    EXPECT_NEAR(a["val_loss"].as_number(), b["val_loss"].as_number(), 2e-3 * a["val_loss"].as_number())
        << l1 << "\n"
        << l2;
    ++lines;
  }
  EXPECT_EQ(lines, 3);
  const auto a = read_json(one + "/report.json"), b = read_json(two + "/report.json");
  EXPECT_NEAR(a["accuracy"].as_number(), b["accuracy"].as_number(), 0.05);
}

TEST(FinetuneCli, ResumedRunSelectsTheSameModelAsAnUninterruptedOne) {
  // Evaluations at 3, 6, 9, 12; the resumed run restarts from the step-6 checkpoint, so the
  // best model so far (and its score) must come back from that checkpoint, not from memory.
  const std::string straight = fixture().dir + "/ft-straight", split = fixture().dir + "/ft-split";
  const std::string common =
      "--from " + fixture().pretrained + " --seed 3 --train.steps 12 --train.eval-every 3";
  auto r = run_command(finetune(straight, common));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(finetune(split, common + " --train.ckpt-every 6"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  remove_tree(split + "/checkpoints/step-00000012");  // as if stopped after step 6
  fs::remove(split + "/report.json");
  r = run_command(finetune(split, common + " --train.ckpt-every 6 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from"), std::string::npos) << r.output;
  const auto a = read_json(straight + "/report.json"), b = read_json(split + "/report.json");
  EXPECT_EQ(a["best_step"].as_int(), b["best_step"].as_int());
  EXPECT_EQ(a["macro_f1"].as_number(), b["macro_f1"].as_number());
  EXPECT_EQ(a["confusion"].dump(), b["confusion"].dump());
  EXPECT_EQ(read_text_file(straight + "/eval.jsonl"), read_text_file(split + "/eval.jsonl"));
}

TEST(FinetuneCli, WithoutATestSplitTheReportIsLabelledAsTheSelectionSplit) {
  // The fixture's captures prepared again without a test split: val both selects the model
  // and is reported on, which the report must say instead of passing it off as a test score.
  const std::string corpus = fixture().dir + "/no-test";
  auto r = run_command(trafficfm_binary() + " prep --input " + fixture().dir + "/captures --labels " +
                       fixture().dir + "/captures/labels.csv --out " + corpus +
                       " --encoder mmae --split.test 0 --log.level warn");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string out = fixture().dir + "/ft-no-test";
  r = run_command(trafficfm_binary() + " finetune --config " + fixture().config + " --corpus " + corpus +
                  " --from-scratch --train.steps 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("val, used for model selection"), std::string::npos) << r.output;
  const auto report = read_json(out + "/report.json");
  EXPECT_EQ(report["split"].as_string(), "val");
  EXPECT_FALSE(report["held_out"].as_bool());
  EXPECT_NE(report["split_label"].as_string().find("used for model selection"), std::string::npos);
}

TEST(FinetuneCli, RefusesAmbiguousStartsAndUnknownFreeze) {
  auto r = run_command(finetune(fixture().dir + "/bad1", "--from-scratch --from " + fixture().pretrained));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("exactly one of"), std::string::npos) << r.output;
  r = run_command(finetune(fixture().dir + "/bad2", "--from-scratch --finetune.freeze everything"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--finetune.freeze"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace trafficfm::testing

// Lens through the CLI, as a user runs it: prep --encoder lens of synth captures, pretrain a
// micro Lens at tp 2 on 2 ranks, a 2-rank dp run killed with SIGKILL mid-way and resumed with
// --resume auto logging bitwise the losses of an uninterrupted run, then finetune from the tp-2
// checkpoint at tp 1 and eval of the fine-tuned model agreeing with its report.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/json_value.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::testing {
namespace {

struct Fixture {
  std::string dir, corpus, config;
  ~Fixture() { remove_tree(dir); }  // at exit: nothing left in the temp dir
  Fixture() {
    dir = make_temp_dir("lens_cli");
    make_synth_corpus(dir, {300, 4, "mmae"});  // the captures; the lens corpus from the CLI below
    corpus = dir + "/lens";
    const auto r = run_command(trafficfm_binary() + " prep --input " + dir + "/captures --labels " + dir +
                               "/captures/labels.csv --encoder lens --lens.max-tokens 96 --out " + corpus);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    config = dir + "/micro.ini";
    std::ofstream(config) << "model = lens\n[lens]\nd-model = 32\nd-kv = 8\nd-ff = 64\nheads = 4\n"
                             "encoder-layers = 2\ndecoder-layers = 2\npop-share = 0.3\nhtp-share = 0.5\n"
                             "[train]\nbatch-size = 8\noptimizer = adamw-scale\nlr = 2e-2\nweight-decay = 0\n"
                             "log-every = 1\neval-batches = 2\nthreads = 1\n";
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

TEST(LensCli, PretrainsAtTp2WithEveryTermLoggedAndFinetunesAtTp1) {
  const std::string run = fixture().dir + "/tp2";
  auto r = run_command(mpirun(2) + pretrain(run, "--train.steps 6 --parallel.tp 2 --train.eval-every 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line, last;
  std::set<std::string> logged;  // a step without a POP or HTP example leaves that term out
  while (std::getline(in, line)) {
    last = line;
    const auto json = core::JsonValue::parse(line);
    for (const char* key : {"pop", "htp"})
      if (json.has(key)) logged.insert(key);
  }
  const auto json = core::JsonValue::parse(last);
  for (const char* key : {"loss", "msp", "msp_accuracy", "tokens_per_s", "model_flops_per_s"})
    EXPECT_TRUE(json.has(key)) << key << " missing in " << last;
  for (const char* key : {"pop", "htp"}) EXPECT_TRUE(logged.count(key)) << key << " in no step of " << run;
  EXPECT_TRUE(std::ifstream(run + "/eval.jsonl").good());

  const std::string ft = fixture().dir + "/ft";
  r = run_command(trafficfm_binary() + " finetune --config " + fixture().config + " --corpus " +
                  fixture().corpus + " --out " + ft + " --from " + run +
                  " --label-fraction 0.5 --seed 1 --finetune.epochs 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("encoder from"), std::string::npos) << r.output;
  const auto report = core::JsonValue::parse(read_text_file(ft + "/report.json"));
  r = run_command(trafficfm_binary() + " eval --from " + ft + " --corpus " + fixture().corpus +
                  " --split test --report " + ft + "/eval.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto eval = core::JsonValue::parse(read_text_file(ft + "/eval.json"));
  EXPECT_EQ(report["confusion"].dump(), eval["confusion"].dump());
}

TEST(LensCli, TwoRankRunKilledMidwayResumesBitwise) {
  const std::string straight = fixture().dir + "/straight", killed = fixture().dir + "/killed";
  auto r = run_command(mpirun(2) + pretrain(straight, "--train.steps 10"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // SIGKILL to the whole job once step 7 is logged (the step-4 checkpoint is the newest).
  r = run_killed_after_metric_lines(mpirun(2) + pretrain(killed, "--train.steps 10 --train.ckpt-every 4"),
                                    killed, 7);
  ASSERT_TRUE(std::ifstream(killed + "/metrics.jsonl").good()) << r.output;
  ASSERT_FALSE(std::ifstream(killed + "/checkpoints/step-00000010").good())
      << "the run ended before the kill";
  r = run_command(mpirun(2) + pretrain(killed, "--train.steps 10 --train.ckpt-every 4 --resume auto"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing from"), std::string::npos) << r.output;
  const auto a = metric_prefixes(straight), b = metric_prefixes(killed);
  ASSERT_EQ(a.size(), 10u);
  ASSERT_EQ(b.size(), 10u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

// --train.tokens for a model that counts its tokens per batch: the mean tokens per sample are
// measured on the same first train samples at any dp, so 1 and 2 ranks run the same number of
// samples, and the tokens the run then counts come close to the ones asked for.
TEST(LensCli, TrainTokensGivesTheSameSamplesAtOneAndTwoRanks) {
  const double asked = 6000;
  std::uint64_t samples[2] = {0, 0};
  for (int ranks : {1, 2}) {
    const std::string run = fixture().dir + "/tokens-" + std::to_string(ranks);
    const std::string command = pretrain(run, "--train.tokens 6000 --train.eval-every 0");
    auto r = run_command(ranks == 1 ? command : mpirun(2) + command);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("tokens per sample, the mean over the first"), std::string::npos) << r.output;
    const auto summary = core::JsonValue::parse(read_text_file(run + "/summary.json"));
    samples[ranks - 1] = static_cast<std::uint64_t>(summary["samples"].as_number());
    const double tokens = summary["tokens"].as_number();
    EXPECT_GT(tokens, 0.75 * asked) << run;
    EXPECT_LT(tokens, 1.25 * asked + 16 * 96) << run;  // plus at most one global batch of 96-token rows
  }
  EXPECT_GT(samples[0], 16u);
  // Both run ceil(samples / global batch) steps: the same samples to within one global batch.
  EXPECT_LE(samples[0] > samples[1] ? samples[0] - samples[1] : samples[1] - samples[0], 16u);
}

// export --format hf refuses a Lens with segment/packet embeddings (exit 2, saying why); one
// trained without them exports to a Hugging Face directory that `finetune --from` starts from;
// --format safetensors writes a file beside its model.json.
TEST(LensCli, ExportsHuggingFaceLayoutThatFinetuneStartsFrom) {
  const std::string with = fixture().dir + "/with-extras", plain = fixture().dir + "/plain";
  const std::string off = " --lens.segment-embedding off --lens.packet-embedding off";
  auto r = run_command(pretrain(with, "--train.steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " export " + with + " --format hf --out " + with + "-hf");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot represent"), std::string::npos) << r.output;
  r = run_command(pretrain(plain, "--train.steps 2" + off));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " export " + plain + " --format hf --out " + plain + "-hf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto config = core::JsonValue::parse(read_text_file(plain + "-hf/config.json"));
  EXPECT_EQ(config["model_type"].as_string(), "t5");
  EXPECT_EQ(config["vocab_size"].as_int(), 65642);
  EXPECT_EQ(config["feed_forward_proj"].as_string(), "gated-gelu");
  r = run_command(trafficfm_binary() + " finetune --config " + fixture().config + off + " --corpus " +
                  fixture().corpus + " --out " + plain + "-ft --from " + plain +
                  "-hf --label-fraction 0.5 "
                  "--finetune.epochs 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("encoder from " + plain + "-hf"), std::string::npos) << r.output;
  r = run_command(trafficfm_binary() + " export " + plain + " --format safetensors --out " + plain +
                  ".safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::ifstream(plain + ".json").good());
}

// pretrain --from starts from given weights: a Hugging Face directory (its tensors, the POP/HTP
// heads it lacks at their initialization) and a pretraining run. At lr 0 the weights stay what
// was loaded, so the new run's export is byte for byte the source's. A source with none of the
// model's tensors is refused.
TEST(LensCli, PretrainFromAHuggingFaceDirectoryOrARunStartsFromItsWeights) {
  const std::string source = fixture().dir + "/from-source";
  const std::string off = " --lens.segment-embedding off --lens.packet-embedding off";
  auto r = run_command(pretrain(source, "--train.steps 3" + off));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " export " + source + " --format hf --out " + source + "-hf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const std::string& from : {source + "-hf", source}) {
    const std::string run = from + "-continued";
    r = run_command(pretrain(run, "--train.steps 1 --train.lr 0 --from " + from + off));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("initial weights from " + from), std::string::npos) << r.output;
    if (from == source + "-hf") EXPECT_NE(r.output.find("pop_head.weight"), std::string::npos) << r.output;
    r = run_command(trafficfm_binary() + " export " + run + " --format hf --out " + run + "-hf");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(read_text_file(run + "-hf/model.safetensors"), read_text_file(source + "-hf/model.safetensors"))
        << from;
  }
  // A scratch run's export differs (the comparison above could fail).
  r = run_command(pretrain(source + "-scratch", "--train.steps 1 --train.lr 0" + off));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " export " + source + "-scratch --format hf --out " + source +
                  "-scratch-hf");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_text_file(source + "-scratch-hf/model.safetensors"),
            read_text_file(source + "-hf/model.safetensors"));
  r = run_command(trafficfm_binary() + " pretrain --config " + source_dir() +
                  "/configs/mmae-tiny.ini --corpus " + fixture().dir + "/corpus --out " + source +
                  "-wrong --train.steps 1 --from " + source + "-hf");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("none of this model's tensors"), std::string::npos) << r.output;
}

// Next-packet generation: finetune --finetune.task generate from a pretraining run, then
// `trafficfm generate` writes one line per usable sample and a report with the model's and the
// two baselines' exact match, JSD and TVD per field; greedy output and seeded sampling repeat.
TEST(LensCli, GenerationFinetuneAndGenerateWriteLinesAndAFieldReport) {
  // 3 packets of up to 85 tokens each: whole IPv4 + TCP headers fit a packet's budget.
  const std::string corpus = fixture().dir + "/lens-gen";
  auto r = run_command(trafficfm_binary() + " prep --input " + fixture().dir + "/captures --encoder lens " +
                       "--lens.max-tokens 256 --lens.packets 3 --out " + corpus);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string pre = fixture().dir + "/gen-pre", ft = fixture().dir + "/gen-ft";
  r = run_command(trafficfm_binary() + " pretrain --config " + fixture().config + " --corpus " + corpus +
                  " --out " + pre + " --train.steps 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(trafficfm_binary() + " finetune --config " + fixture().config + " --corpus " + corpus +
                  " --out " + ft + " --from " + pre +
                  " --finetune.task generate --train.steps 4 --train.eval-every 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::ifstream(ft + "/model.pt").good());
  EXPECT_NE(read_text_file(ft + "/metrics.jsonl").find("token_accuracy"), std::string::npos);
  auto generate = [&](const std::string& out, const std::string& extra) {
    return run_command(trafficfm_binary() + " generate --from " + ft + " --corpus " + corpus +
                       " --split test --limit 24 --max-tokens 48 --out " + out + " " + extra);
  };
  r = generate(fixture().dir + "/gen-a", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("copy-previous"), std::string::npos) << r.output;
  const auto lines = read_text_file(fixture().dir + "/gen-a/generated.jsonl");
  std::size_t count = 0;
  for (std::size_t at = 0; (at = lines.find('\n', at)) != std::string::npos; ++at) ++count;
  EXPECT_GT(count, 0u);
  EXPECT_LE(count, 24u);
  const auto first = core::JsonValue::parse(lines.substr(0, lines.find('\n')));
  for (const char* key : {"index", "context", "generated", "fields", "real_fields"})
    EXPECT_TRUE(first.has(key)) << key;
  const auto report = core::JsonValue::parse(read_text_file(fixture().dir + "/gen-a/report.json"));
  EXPECT_EQ(report["sampling"].as_string(), "greedy");
  const auto& field = report["fields"]["ip_total_length"];
  for (const char* who : {"model", "copy_previous", "marginal"}) {
    for (const char* metric : {"exact_match", "jsd", "tvd"})
      EXPECT_TRUE(field[who].has(metric)) << who << " " << metric;
  }
  r = generate(fixture().dir + "/gen-b", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text_file(fixture().dir + "/gen-b/generated.jsonl"), lines) << "greedy decoding repeats";
  r = generate(fixture().dir + "/gen-c", "--top-k 20 --temperature 2 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = generate(fixture().dir + "/gen-d", "--top-k 20 --temperature 2 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text_file(fixture().dir + "/gen-c/generated.jsonl"),
            read_text_file(fixture().dir + "/gen-d/generated.jsonl"))
      << "seeded sampling repeats";
}

}  // namespace
}  // namespace trafficfm::testing

// Lens's pretraining examples (lens_batch), its task's loss terms and weight, and the
// classifier loading a pretraining model by name, on a synthetic lens corpus.
#include "models/lens/lens_task.h"

#include <gtest/gtest.h>

#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/communicator.h"
#include "distributed/process_grid.h"
#include "distributed/tensor_parallel_state.h"
#include "models/lens/lens_batch.h"
#include "models/lens/lens_classifier.h"
#include "tests/support/corpus_fixture.h"
#include "tests/support/test_paths.h"

namespace trafficfm::models {
namespace {

namespace vocab = datasets::lens_vocab;

const std::string& corpus() {
  // The directory goes at exit: every test process builds its own.
  struct Made {
    std::string dir = testing::make_temp_dir("lens_task"), path;
    Made() {
      testing::CorpusSpec spec;
      spec.flows = 120;
      spec.encoder = "lens";
      spec.max_tokens = 96;
      path = testing::make_synth_corpus(dir, spec);
    }
    ~Made() { testing::remove_tree(dir); }
  };
  static const Made made;
  return made.path;
}

datasets::Batch first_batch(std::size_t rows) {
  datasets::LoaderOptions lo;
  lo.corpus = corpus();
  lo.batch_size = rows;
  lo.columns = lens_columns();
  datasets::Loader loader(lo);
  return loader.next();
}

LensSettings micro() {
  LensSettings s;
  s.model.vocab = vocab::kSize;
  s.model.d_model = 32;
  s.model.d_kv = 8;
  s.model.heads = 4;
  s.model.d_ff = 64;
  s.model.encoder_layers = 2;
  s.model.decoder_layers = 1;
  s.objective.pop_share = 0.3;
  s.objective.htp_share = 0.5;
  return s;
}

TEST(LensExamples, DecoderInputIsTheTargetShiftedRightAndPositionsPointAtTheirTokens) {
  const auto batch = first_batch(32);
  const auto ex = lens_examples(batch, micro().objective, 3, torch::kCPU);
  const auto n = static_cast<std::int64_t>(batch.rows);
  ASSERT_EQ(ex.target.size(0), n);
  EXPECT_TRUE(ex.decoder_input.select(1, 0).eq(vocab::kPad).all().item<bool>());
  const auto shifted = ex.target.narrow(1, 0, ex.target.size(1) - 1);
  const auto fed = ex.decoder_input.narrow(1, 1, ex.target.size(1) - 1);
  // Wherever position i + 1 has a target, the decoder is fed target i there.
  const auto next = ex.target.narrow(1, 1, ex.target.size(1) - 1);
  EXPECT_TRUE((fed == shifted).logical_or(next == vocab::kPad).all().item<bool>());
  EXPECT_DOUBLE_EQ(ex.target_tokens, (ex.target != vocab::kPad).sum().item<double>());
  for (std::int64_t r = 0; r < n; ++r) {
    EXPECT_EQ(ex.input.tokens[r][ex.eos_position[r].item<std::int64_t>()].item<std::int64_t>(), vocab::kEos);
    for (int i = 0; i < 3; ++i) {
      if (ex.pop_mask[r][i].item<float>() == 0) continue;
      EXPECT_EQ(ex.input.tokens[r][ex.pop_position[r][i].item<std::int64_t>()].item<std::int64_t>(),
                vocab::kPacket);
    }
    EXPECT_FALSE(ex.pop_mask[r].sum().item<float>() > 0 && ex.htp_mask[r].item<float>() > 0)
        << "a sample is used for one packet objective at most";
  }
  EXPECT_GT(ex.pop_mask.sum().item<float>(), 0) << "no POP sample in 32 at a share of 0.3";
  EXPECT_GT(ex.htp_mask.sum().item<float>(), 0) << "no HTP sample in 32";
  // A POP sample has at least one packet out of place; HTP draws both kinds of pairs.
  for (std::int64_t r = 0; r < n; ++r) {
    if (ex.pop_mask[r].sum().item<float>() > 0) {
      EXPECT_LT((ex.pop_label[r] * ex.pop_mask[r]).sum().item<float>(), ex.pop_mask[r].sum().item<float>());
    }
  }
  const auto positives = (ex.htp_label * ex.htp_mask).sum().item<float>();
  EXPECT_GT(positives, 0);
  EXPECT_LT(positives, ex.htp_mask.sum().item<float>());
}

TEST(LensExamples, AreAFunctionOfSeedAndSample) {
  const auto batch = first_batch(16);
  const auto a = lens_examples(batch, micro().objective, 3, torch::kCPU);
  const auto b = lens_examples(batch, micro().objective, 3, torch::kCPU);
  const auto c = lens_examples(batch, micro().objective, 4, torch::kCPU);
  EXPECT_TRUE(a.input.tokens.equal(b.input.tokens));
  EXPECT_TRUE(a.target.equal(b.target));
  EXPECT_FALSE(a.input.tokens.sizes() == c.input.tokens.sizes() && a.input.tokens.equal(c.input.tokens));
}

TEST(LensExamples, WithoutPacketObjectivesOnlySpansChange) {
  auto objective = micro().objective;
  objective.pop = objective.htp = false;
  const auto batch = first_batch(8);
  const auto ex = lens_examples(batch, objective, 3, torch::kCPU);
  EXPECT_EQ(ex.pop_mask.sum().item<float>(), 0);
  EXPECT_EQ(ex.htp_mask.sum().item<float>(), 0);
  // Putting each sentinel's tokens back gives the stored sample.
  const auto* tokens = batch.column<std::int32_t>("tokens");
  const std::size_t width = batch.specs[0].values_per_sample();
  for (std::int64_t r = 0; r < 8; ++r) {
    std::vector<std::int64_t> restored;
    std::int64_t t = 0;
    for (std::int64_t i = 0; i < ex.input.tokens.size(1); ++i) {
      const auto id = ex.input.tokens[r][i].item<std::int64_t>();
      if (id == vocab::kPad) break;
      if (id < vocab::kFirstSentinel) {
        restored.push_back(id);
        continue;
      }
      ++t;  // the target's sentinel
      while (true) {
        const auto next = ex.target[r][t].item<std::int64_t>();
        if (next >= vocab::kFirstSentinel || next == vocab::kEos) break;
        restored.push_back(next);
        ++t;
      }
    }
    for (std::size_t i = 0; i < restored.size(); ++i)
      ASSERT_EQ(restored[i], tokens[r * width + i]) << "row " << r << " token " << i;
  }
}

TEST(LensTask, GivesEveryTermAndCountsEachTermsExamples) {
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  LensTask task(micro(), grid, 1, torch::kCPU);
  const auto batch = first_batch(16);
  const auto coefficients = task.loss_terms();
  EXPECT_EQ(coefficients, (std::map<std::string, double>{{"msp", 1.0}, {"pop", 0.2}, {"htp", 0.2}}));
  const auto counts = task.term_weights(batch);
  auto terms = task.losses(batch);
  for (const char* name : {"loss", "msp", "msp_accuracy", "pop", "pop_accuracy", "htp", "htp_accuracy"})
    ASSERT_TRUE(terms.count(name)) << name;
  EXPECT_FALSE(terms.count("weight"));
  const auto ex = lens_examples(batch, micro().objective, 1, torch::kCPU);
  EXPECT_DOUBLE_EQ(counts.at("msp"), ex.target_tokens);
  EXPECT_DOUBLE_EQ(counts.at("pop"), ex.pop_mask.sum().item<double>());
  EXPECT_DOUBLE_EQ(counts.at("htp"), ex.htp_mask.sum().item<double>());
  EXPECT_GT(counts.at("pop"), 0);
  EXPECT_GT(counts.at("htp"), 0);
  // The examples term_weights built are the ones losses() trained on: the same terms as a
  // losses() call that builds its own.
  LensTask fresh(micro(), grid, 1, torch::kCPU);
  const auto again = fresh.losses(batch);
  for (const char* name : {"msp", "pop", "htp"})
    EXPECT_EQ(terms[name].item<double>(), again.at(name).item<double>()) << name;
  // An untrained model is near chance: ln(vocabulary) for MSP, ln 2 for the binary heads.
  EXPECT_NEAR(terms["msp"].item<double>(), std::log(65642.0), 1.5);
  EXPECT_NEAR(terms["pop"].item<double>(), std::log(2.0), 0.3);
  EXPECT_NEAR(terms["htp"].item<double>(), std::log(2.0), 0.3);
  EXPECT_NEAR(
      terms["loss"].item<double>(),
      terms["msp"].item<double>() + 0.2 * terms["pop"].item<double>() + 0.2 * terms["htp"].item<double>(),
      1e-4);
  terms["loss"].backward();
  for (const auto& p : task.model().named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
  EXPECT_GT(task.network().pop_head->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(task.network().htp_head->weight.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(task.batch_flops(batch), 0);
  EXPECT_GT(task.batch_tokens(batch), 0);
}

TEST(LensTask, WithoutMspTheDecoderTakesNoPartAndNoTokenIsCounted) {
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  auto settings = micro();
  settings.objective.msp = false;
  LensTask task(settings, grid, 1, torch::kCPU);
  const auto batch = first_batch(8);
  EXPECT_FALSE(task.loss_terms().count("msp"));
  EXPECT_FALSE(task.term_weights(batch).count("msp"));
  auto terms = task.losses(batch);
  EXPECT_FALSE(terms.count("msp"));
  terms["loss"].backward();
  for (const auto& p : task.model().named_parameters()) {
    const bool decoder = p.key().rfind("decoder.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !decoder) << p.key();
  }
}

TEST(LensClassifier, LoadsAPretrainingModelByNameAndPoolsItsEncoder) {
  auto alone = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*alone, 1);
  LensTask task(micro(), grid, 1, torch::kCPU);
  std::map<std::string, torch::Tensor> saved;
  for (const auto& t : distributed::sharded_tensors(task.model()))
    saved[t.name] = distributed::gather_full(t, *alone);
  EXPECT_EQ(saved.at("shared.weight").size(0), vocab::kSize) << "checkpoints hold the real vocabulary only";
  LensClassifier classifier(micro(), 5, *alone, 2, torch::kCPU);
  EXPECT_GT(classifier.load_pretrained(saved, *alone), 10u);
  const auto batch = first_batch(4);
  classifier.module().eval();
  torch::NoGradGuard no_grad;
  const auto [logits, labels, units] = classifier.forward(batch);
  EXPECT_EQ(units.size(0), 4);
  EXPECT_EQ(logits.size(0), 4);
  EXPECT_EQ(logits.size(1), 5);
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  auto settings = micro();
  settings.head = "decoder";
  LensClassifier decoder_head(settings, 5, *alone, 2, torch::kCPU);
  decoder_head.load_pretrained(saved, *alone);
  decoder_head.module().eval();
  EXPECT_TRUE(torch::isfinite(decoder_head.forward(batch).logits).all().item<bool>());
  EXPECT_EQ(decoder_head.layer_of("decoder.block.0.layer.0.SelfAttention.q.weight"), 3);
  EXPECT_EQ(classifier.layer_of("shared.weight"), 0);
  EXPECT_EQ(classifier.layer_of("head.weight"), classifier.layers() + 1);
}

}  // namespace
}  // namespace trafficfm::models

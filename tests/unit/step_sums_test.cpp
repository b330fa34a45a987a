// What a step logs (core/trainer/step_sums.h): weighted means of the terms, each counted term
// averaged over its own examples, a term without examples left out, and the loss rebuilt from
// the coefficients.
#include "core/trainer/step_sums.h"

#include <gtest/gtest.h>

namespace trafficfm::core {
namespace {

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

TEST(StepSums, ACountedTermIsItsMeanOverItsOwnExamples) {
  EXPECT_EQ(counted_term("pop_accuracy", {{"pop", 1}, {"msp", 1}}), "pop");
  EXPECT_EQ(counted_term("msp", {{"pop", 1}, {"msp", 1}}), "msp");
  EXPECT_EQ(counted_term("popular", {{"pop", 1}}), "");
  EXPECT_EQ(counted_term("a_b_c", {{"a", 1}, {"a_b", 1}}), "a_b");
  auto alone = distributed::make_local_communicator();
  StepSums sums;
  // Micro-batch 1: 10 MSP tokens at 2.0, 1 POP example at 0.5. Micro-batch 2: 30 tokens at
  // 4.0, no POP example (its masked mean is 0).
  sums.add({{"loss", scalar(9)}, {"msp", scalar(2.0)}, {"pop", scalar(0.5)}, {"pop_accuracy", scalar(1.0)}},
           scalar(11), {{"msp", 10}, {"pop", 1}});
  sums.add({{"loss", scalar(9)}, {"msp", scalar(4.0)}, {"pop", scalar(0.0)}, {"pop_accuracy", scalar(0.0)}},
           scalar(30), {{"msp", 30}, {"pop", 0}});
  sums.reduce(*alone, {{"msp", 1.0}, {"pop", 0.2}});
  EXPECT_DOUBLE_EQ(sums.terms.at("msp"), (10 * 2.0 + 30 * 4.0) / 40);
  EXPECT_DOUBLE_EQ(sums.terms.at("pop"), 0.5) << "the micro-batch without a POP example weighs nothing";
  EXPECT_DOUBLE_EQ(sums.terms.at("pop_accuracy"), 1.0);
  EXPECT_DOUBLE_EQ(sums.terms.at("loss"), 3.5 + 0.2 * 0.5)
      << "from the coefficients, not the batches' losses";
  EXPECT_DOUBLE_EQ(sums.weight, 41);
}

TEST(StepSums, ATermWithoutExamplesIsLeftOutAndOneWeightWeighsEveryTerm) {
  auto alone = distributed::make_local_communicator();
  StepSums counted;
  counted.add({{"loss", scalar(1)}, {"msp", scalar(2.0)}, {"pop", scalar(0.0)}}, scalar(5),
              {{"msp", 5}, {"pop", 0}});
  counted.reduce(*alone, {{"msp", 1.0}, {"pop", 0.2}});
  EXPECT_FALSE(counted.terms.count("pop")) << "a mean over no example is not logged as 0";
  EXPECT_DOUBLE_EQ(counted.terms.at("loss"), 2.0);
  StepSums plain;
  plain.add({{"loss", scalar(1.0)}, {"acc", scalar(0.5)}}, scalar(1));
  plain.add({{"loss", scalar(4.0)}, {"acc", scalar(1.0)}}, scalar(3));
  plain.reduce(*alone);
  EXPECT_DOUBLE_EQ(plain.terms.at("loss"), (1.0 + 12.0) / 4);
  EXPECT_DOUBLE_EQ(plain.terms.at("acc"), (0.5 + 3.0) / 4);
  EXPECT_DOUBLE_EQ(plain.weight, 4);
}

}  // namespace
}  // namespace trafficfm::core

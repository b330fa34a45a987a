// The scaling-law fitter (core/scaling): the hand gradient is autograd's, approach 3 recovers a
// known L(N, D) from noisy points with every parameter inside its bootstrap interval and is a
// function of its seed alone, approach 2 finds the known allocation exponent.
#include "core/scaling/scaling_law.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/rng.h"
#include "core/scaling/isoflop.h"

namespace trafficfm::core {
namespace {

// Chinchilla's own fit (Hoffmann et al. 2022, eq. 10).
const ScalingLaw kTruth{1.69, 406.4, 410.7, 0.34, 0.28};

// A 6 x 6 grid of N and D with multiplicative noise of `noise` (log-normal), flops = 6 N D.
std::vector<ScalingPoint> grid_points(double noise, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<ScalingPoint> points;
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      ScalingPoint p;
      p.params = 1e6 * std::pow(10.0, 0.6 * i);
      p.data = 1e8 * std::pow(10.0, 0.6 * j);
      p.flops = 6 * p.params * p.data;
      p.loss = kTruth.loss(p.params, p.data) * std::exp(rng.normal(0, noise));
      p.name = std::to_string(i) + "x" + std::to_string(j);
      points.push_back(p);
    }
  }
  return points;
}

TEST(ScalingLaw, HandGradientIsAutogradsGradient) {
  const auto points = grid_points(0.02, 1);
  for (const LawCoordinates x : {LawCoordinates{5, 6, 0.5, 0.3, 0.25}, LawCoordinates{20, 1, -1, 1.5, 0.1}}) {
    for (double delta : {1e-3, 10.0}) {  // the linear and the quadratic side of the Huber loss
      LawCoordinates g;
      const double f = law_objective(points, x, delta, &g);
      auto t = torch::tensor(std::vector<double>(x.begin(), x.end()), torch::kDouble).requires_grad_(true);
      auto total = torch::zeros({}, torch::kDouble);
      for (const auto& p : points) {
        auto terms = torch::stack({t[0] - t[3] * std::log(p.params), t[1] - t[4] * std::log(p.data), t[2]});
        auto r = torch::logsumexp(terms, 0) - std::log(p.loss);
        total = total + torch::huber_loss(r, torch::zeros_like(r), at::Reduction::Sum, delta);
      }
      total.backward();
      EXPECT_NEAR(f, total.item<double>(), 1e-12 * std::max(1.0, std::abs(f)));
      for (int k = 0; k < 5; ++k) EXPECT_NEAR(g[k], t.grad()[k].item<double>(), 1e-10) << "coordinate " << k;
    }
  }
}

TEST(ScalingLaw, RecoversAKnownLawWithinItsBootstrapIntervalsAndIsAFunctionOfTheSeed) {
  const auto points = grid_points(0.01, 7);
  // A 2 x 2 x 2 x 3 x 3 corner of Chinchilla's grid keeps this a unit test (the whole grid, 4,500
  // starts, runs through `sweep fit` in the CLI test).
  LawFitOptions options;
  options.alpha_starts = options.beta_starts = {0.5, 1.5};
  options.e_starts = {-1, 1};
  options.a_starts = options.b_starts = {0, 10, 20};
  options.threads = 2;
  const auto fit = fit_law(points, options);
  EXPECT_EQ(fit.starts, 72u);
  EXPECT_FALSE(fit.capped) << "the best start must stop on its tolerances";
  BootstrapOptions bootstrap;
  bootstrap.replicates = 100;
  bootstrap.seed = 3;
  const auto replicates = bootstrap_law(points, fit, options, bootstrap);
  ASSERT_EQ(replicates.size(), 100u);
  auto check = [&](const char* name, double truth, double estimate, auto member) {
    std::vector<double> values;
    for (const auto& r : replicates) values.push_back(member(r));
    const auto ci = percentile_interval(values, 0.95);
    EXPECT_LE(ci[0], truth) << name << " estimate " << estimate << " interval [" << ci[0] << ", " << ci[1]
                            << "]";
    EXPECT_GE(ci[1], truth) << name << " estimate " << estimate << " interval [" << ci[0] << ", " << ci[1]
                            << "]";
  };
  check("E", kTruth.E, fit.law.E, [](const ScalingLaw& l) { return l.E; });
  check("A", kTruth.A, fit.law.A, [](const ScalingLaw& l) { return l.A; });
  check("B", kTruth.B, fit.law.B, [](const ScalingLaw& l) { return l.B; });
  check("alpha", kTruth.alpha, fit.law.alpha, [](const ScalingLaw& l) { return l.alpha; });
  check("beta", kTruth.beta, fit.law.beta, [](const ScalingLaw& l) { return l.beta; });
  EXPECT_NEAR(fit.law.alpha, kTruth.alpha, 0.05);
  EXPECT_NEAR(fit.law.beta, kTruth.beta, 0.05);
  // The allocation exponents: a = beta / (alpha + beta) = 0.452 for the truth.
  EXPECT_NEAR(allocation(fit.law, 6).a, 0.28 / 0.62, 0.03);
  // Deterministic: another thread count and a second run give bitwise the same fit and replicates.
  options.threads = 1;
  const auto again = fit_law(points, options);
  EXPECT_EQ(again.x, fit.x);
  bootstrap.replicates = 20;
  const auto first = bootstrap_law(points, fit, options, bootstrap);
  options.threads = 2;
  const auto second = bootstrap_law(points, fit, options, bootstrap);
  for (std::size_t r = 0; r < first.size(); ++r) {
    EXPECT_EQ(first[r].alpha, second[r].alpha);
    EXPECT_EQ(first[r].E, second[r].E);
    EXPECT_EQ(first[r].alpha, replicates[r].alpha) << "replicate " << r << " is a function of (seed, r)";
  }
}

TEST(ScalingLaw, DefaultStartsAreChinchillasGrid) {
  const LawFitOptions o;
  EXPECT_EQ(o.alpha_starts.size() * o.beta_starts.size() * o.e_starts.size() * o.a_starts.size() *
                o.b_starts.size(),
            4500u);
  EXPECT_EQ(o.a_starts.back(), 25.0);
  EXPECT_EQ(o.e_starts.front(), -1.0);
}

TEST(ScalingLaw, TooFewOrNonPositiveRunsAreRefused) {
  auto points = grid_points(0.0, 1);
  points.resize(4);
  EXPECT_THROW(fit_law(points, LawFitOptions{}), std::invalid_argument);
  points = grid_points(0.0, 1);
  points[3].loss = -1;
  EXPECT_THROW(fit_law(points, LawFitOptions{}), std::invalid_argument);
}

TEST(IsoFlop, ParabolaMinimaFollowTheKnownAllocation) {
  // Three budgets, seven sizes each around the optimum, D = C / (6 N), noise-free.
  std::vector<ScalingPoint> points;
  const auto truth = allocation(kTruth, 6);
  for (double c : {1e19, 1e20, 1e21}) {
    for (int i = -3; i <= 3; ++i) {
      ScalingPoint p;
      p.budget = p.flops = c;
      p.params = truth.params(c) * std::pow(10.0, 0.25 * i);
      p.data = c / (6 * p.params);
      p.loss = kTruth.loss(p.params, p.data);
      points.push_back(p);
    }
  }
  const auto fit = fit_isoflop(points);
  ASSERT_EQ(fit.profiles.size(), 3u);
  for (const auto& profile : fit.profiles) {
    EXPECT_NEAR(std::log(profile.params_opt / truth.params(profile.budget)), 0.0, 0.1);
    EXPECT_FALSE(profile.extrapolated);
  }
  EXPECT_NEAR(fit.params_opt.exponent, truth.a, 0.02);
  EXPECT_NEAR(fit.data_opt.exponent, truth.b, 0.02);
  // A budget of two sizes has no parabola; the fit names it and goes on.
  ScalingPoint lone = points.front();
  lone.budget = lone.flops = 5e17;
  points.push_back(lone);
  lone.params *= 2;
  points.push_back(lone);
  const auto with_lone = fit_isoflop(points);
  ASSERT_EQ(with_lone.left_out.size(), 1u);
  EXPECT_NE(with_lone.left_out[0].reason.find("2 model size"), std::string::npos)
      << with_lone.left_out[0].reason;
  const auto reps = bootstrap_isoflop(points, 50, 1);
  ASSERT_GT(reps.a.size(), 40u);
  const auto ci = percentile_interval(reps.a, 0.8);
  EXPECT_LE(ci[0], fit.params_opt.exponent + 1e-9);
  EXPECT_GE(ci[1], fit.params_opt.exponent - 1e-9);
}

TEST(ScalingLaw, PercentileIntervalInterpolatesOrderStatistics) {
  const auto ci = percentile_interval({5, 1, 4, 2, 3}, 0.5);  // 25th and 75th percentiles
  EXPECT_DOUBLE_EQ(ci[0], 2.0);
  EXPECT_DOUBLE_EQ(ci[1], 4.0);
}

}  // namespace
}  // namespace trafficfm::core

// Chinchilla's approach 3 (Hoffmann et al. 2022, appendix D.2): the loss of a model of N
// parameters trained on D tokens (or samples) is modelled as
//   L(N, D) = E + A / N^alpha + B / D^beta,
// fitted by minimizing the Huber loss (delta 1e-3) between the predicted and observed log loss,
// in the log-sum-exp parameterization
//   log L_hat = LSE(a - alpha log N, b - beta log D, e),   A = e^a, B = e^b, E = e^e,
// with LibTorch's L-BFGS (strong Wolfe line search) from every point of Chinchilla's grid of
// initializations, run to convergence; the best optimum is kept. Replications found that loose
// tolerances stop L-BFGS early on this tiny objective and bias the fit (Besiroglu et al. 2024),
// so the tolerances here are far below the objective's scale.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace trafficfm::core {

// One finished training run, as the fit sees it.
struct ScalingPoint {
  std::string name;
  double params = 0;  // N
  double data = 0;    // D: tokens (samples for a model without tokens)
  double flops = 0;   // C: training FLOPs spent
  double loss = 0;    // final val loss
  double budget = 0;  // the IsoFLOP budget it was planned for (0: none)
};

struct ScalingLaw {
  double E = 0, A = 0, B = 0, alpha = 0, beta = 0;
  double loss(double params, double data) const;
};

// The optimizer's coordinates: (a, b, e, alpha, beta).
using LawCoordinates = std::array<double, 5>;
ScalingLaw law_from(const LawCoordinates& x);

// sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i), and its gradient
// with respect to x when `gradient` is given. Written out by hand rather than through autograd:
// the closure runs hundreds of thousands of times per fit, and the hand gradient costs a few
// microseconds where autograd's graph costs ~25 tensor ops (tested equal to autograd's).
double law_objective(const std::vector<ScalingPoint>& points, const LawCoordinates& x, double delta,
                     LawCoordinates* gradient = nullptr);

struct LawFitOptions {
  double huber_delta = 1e-3;
  // Chinchilla's grid of initializations: 5 x 5 x 5 x 6 x 6 = 4,500 starts.
  std::vector<double> alpha_starts{0, 0.5, 1, 1.5, 2};
  std::vector<double> beta_starts{0, 0.5, 1, 1.5, 2};
  std::vector<double> e_starts{-1, -0.5, 0, 0.5, 1};
  std::vector<double> a_starts{0, 5, 10, 15, 20, 25};
  std::vector<double> b_starts{0, 5, 10, 15, 20, 25};
  // L-BFGS, to convergence: the stopping tolerances lie far below the objective (~1e-5 per
  // point at a 1% fit), so a start stops where its gradient vanishes; converging starts take
  // 100-200 iterations. The cap bounds the starts that crawl along a plateau (a vanishing B/D^beta
  // with beta -> 2, say) toward a poor optimum; the fit reports how many reached it, and whether
  // the best one did.
  std::int64_t max_iterations = 1000;
  double tolerance_grad = 1e-12;
  double tolerance_change = 1e-16;
  std::int64_t history = 10;
  int threads = 0;  // worker threads over starts (0: the machine's cores)
};

struct LawRun {
  LawCoordinates x{};
  double objective = 0;
  bool capped = false;  // stopped by the iteration cap, not by the tolerances
};

struct LawFit {
  ScalingLaw law;
  LawCoordinates x{};
  double objective = 0;
  bool capped = false;     // the best start stopped at the iteration cap
  std::size_t starts = 0;  // initializations run
  std::size_t starts_capped = 0;
  // The distinct optima found from the grid, best first (at most 16): where a bootstrap
  // replicate starts, besides the best one.
  std::vector<LawCoordinates> optima;
};

// The fit from every start of the grid; deterministic (the best is chosen by objective, then by
// start index, whatever the threads did). Throws std::invalid_argument for fewer than 5 points
// or a point with a non-positive N, D or loss.
LawFit fit_law(const std::vector<ScalingPoint>& points, const LawFitOptions& options);
// The fit from the given starts only.
LawFit fit_law_from(const std::vector<ScalingPoint>& points, const std::vector<LawCoordinates>& starts,
                    const LawFitOptions& options);
// One L-BFGS run from `start`.
LawRun minimize_law(const std::vector<ScalingPoint>& points, const LawCoordinates& start,
                    const LawFitOptions& options);

// Compute-optimal allocation under C = k N D (k fitted from the runs, ~6 per token for a
// transformer): minimizing L(N, D) at fixed C gives
//   N_opt(C) = G (C/k)^a,  D_opt(C) = (C/k) / N_opt(C),
//   a = beta / (alpha + beta),  b = alpha / (alpha + beta),  G = (alpha A / (beta B))^(1/(alpha+beta)).
struct Allocation {
  double a = 0, b = 0, G = 0, k = 0;
  double params(double flops) const;
  double data(double flops) const;
};
Allocation allocation(const ScalingLaw& law, double k);
// k of a set of runs: the median of C / (N D).
double flops_per_param_datum(const std::vector<ScalingPoint>& points);

// Percentile interval of a sample at a central level (0.8: the 10th and 90th percentiles,
// Chinchilla's), linear interpolation between order statistics.
std::array<double, 2> percentile_interval(std::vector<double> values, double level);

// Resampling with replacement: replicate r draws from Rng(seed, r), so the replicates (and the
// intervals) are a function of the seed alone.
std::vector<std::size_t> bootstrap_indices(std::size_t n, std::uint64_t seed, std::uint64_t replicate);

struct BootstrapOptions {
  int replicates = 1000;
  std::uint64_t seed = 0;
  // A replicate's fit starts from the full fit's optimum and the next best distinct optima of
  // the grid (at most this many in all), not from the whole grid: 4,500 starts x 1,000
  // replicates is hours, and a resample's optimum lies next to the full data's.
  std::size_t starts = 4;
};
// The law fitted to each bootstrap replicate of the points.
std::vector<ScalingLaw> bootstrap_law(const std::vector<ScalingPoint>& points, const LawFit& full,
                                      const LawFitOptions& options, const BootstrapOptions& bootstrap);

}  // namespace trafficfm::core

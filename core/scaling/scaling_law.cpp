#include "core/scaling/scaling_law.h"

#include <torch/optim/lbfgs.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "core/rng.h"

namespace trafficfm::core {

double ScalingLaw::loss(double params, double data) const {
  return E + A / std::pow(params, alpha) + B / std::pow(data, beta);
}

ScalingLaw law_from(const LawCoordinates& x) {
  return ScalingLaw{std::exp(x[2]), std::exp(x[0]), std::exp(x[1]), x[3], x[4]};
}

double law_objective(const std::vector<ScalingPoint>& points, const LawCoordinates& x, double delta,
                     LawCoordinates* gradient) {
  const double a = x[0], b = x[1], e = x[2], alpha = x[3], beta = x[4];
  double total = 0;
  LawCoordinates g{};
  for (const auto& p : points) {
    const double log_n = std::log(p.params), log_d = std::log(p.data);
    const double t1 = a - alpha * log_n, t2 = b - beta * log_d, t3 = e;
    const double top = std::max({t1, t2, t3});
    const double e1 = std::exp(t1 - top), e2 = std::exp(t2 - top), e3 = std::exp(t3 - top);
    const double sum = e1 + e2 + e3;
    const double r = top + std::log(sum) - std::log(p.loss);
    const double magnitude = std::abs(r);
    total += magnitude <= delta ? 0.5 * r * r : delta * (magnitude - 0.5 * delta);
    if (!gradient) continue;
    const double slope = magnitude <= delta ? r : (r > 0 ? delta : -delta);  // Huber'(r)
    const double w1 = e1 / sum, w2 = e2 / sum, w3 = e3 / sum;                // dLSE/dt_k
    g[0] += slope * w1;
    g[1] += slope * w2;
    g[2] += slope * w3;
    g[3] -= slope * w1 * log_n;
    g[4] -= slope * w2 * log_d;
  }
  if (gradient) *gradient = g;
  return total;
}

namespace {

void check_points(const std::vector<ScalingPoint>& points) {
  if (points.size() < 5)
    throw std::invalid_argument("a scaling-law fit needs at least 5 runs (5 parameters), got " +
                                std::to_string(points.size()));
  for (const auto& p : points) {
    if (!(p.params > 0) || !(p.data > 0) || !(p.loss > 0) || !std::isfinite(p.loss))
      throw std::invalid_argument("run '" + p.name + "': N, D and the loss must be positive and finite");
  }
}

int worker_count(int requested, std::size_t jobs) {
  const int machine = std::max(1u, std::thread::hardware_concurrency());
  const int wanted = requested > 0 ? requested : machine;
  return static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(wanted, jobs)));
}

// Runs body(i) for i in [0, n) on `threads` workers, each taking every threads-th index; the
// results land by index, so they do not depend on the scheduling.
template <typename Body>
void parallel_for(std::size_t n, int threads, Body body) {
  const int workers = worker_count(threads, n);
  if (workers == 1) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(workers);
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      try {
        for (std::size_t i = w; i < n; i += workers) body(i);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

bool same_optimum(const LawCoordinates& x, const LawCoordinates& y) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::abs(x[i] - y[i]) > 1e-3 * std::max(1.0, std::abs(x[i]))) return false;
  }
  return true;
}

LawFit best_of(const std::vector<LawRun>& runs) {
  std::vector<LawCoordinates> optima;
  std::vector<double> objectives;
  std::size_t capped = 0;
  for (const auto& r : runs) {
    optima.push_back(r.x);
    objectives.push_back(r.objective);
    capped += r.capped ? 1 : 0;
  }
  std::vector<std::size_t> order(optima.size());
  std::iota(order.begin(), order.end(), 0);
  // A start whose run ended in NaN ranks last; ties go to the earlier start.
  auto key = [&](std::size_t i) {
    return std::isfinite(objectives[i]) ? objectives[i] : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return key(i) < key(j); });
  LawFit fit;
  fit.starts = optima.size();
  if (order.empty() || !std::isfinite(objectives[order.front()]))
    throw std::runtime_error("the scaling-law fit diverged from every start");
  fit.x = optima[order.front()];
  fit.objective = objectives[order.front()];
  fit.capped = runs[order.front()].capped;
  fit.starts_capped = capped;
  fit.law = law_from(fit.x);
  for (std::size_t i : order) {
    if (!std::isfinite(objectives[i]) || fit.optima.size() >= 16) break;
    bool known = false;
    for (const auto& o : fit.optima) known = known || same_optimum(o, optima[i]);
    if (!known) fit.optima.push_back(optima[i]);
  }
  return fit;
}

}  // namespace

LawRun minimize_law(const std::vector<ScalingPoint>& points, const LawCoordinates& start,
                    const LawFitOptions& options) {
  auto x = torch::tensor(std::vector<double>(start.begin(), start.end()), torch::kDouble);
  x.mutable_grad() = torch::zeros_like(x);
  torch::optim::LBFGS lbfgs(std::vector<torch::Tensor>{x}, torch::optim::LBFGSOptions(1.0)
                                                               .max_iter(options.max_iterations)
                                                               .max_eval(options.max_iterations * 5 / 4)
                                                               .tolerance_grad(options.tolerance_grad)
                                                               .tolerance_change(options.tolerance_change)
                                                               .history_size(options.history)
                                                               .line_search_fn("strong_wolfe"));
  auto coordinates = [&x] {
    LawCoordinates c;
    std::memcpy(c.data(), x.data_ptr<double>(), sizeof c);
    return c;
  };
  // L-BFGS reads the gradient from x.grad(): the closure writes the hand gradient there.
  std::int64_t evaluations = 0;
  auto closure = [&] {
    ++evaluations;
    LawCoordinates g;
    const double f = law_objective(points, coordinates(), options.huber_delta, &g);
    std::memcpy(x.mutable_grad().data_ptr<double>(), g.data(), sizeof g);
    return torch::tensor(f, torch::kDouble);
  };
  lbfgs.step(closure);
  LawRun run;
  run.x = coordinates();
  run.objective = law_objective(points, run.x, options.huber_delta);
  // An iteration evaluates the objective at least once: fewer evaluations than the cap means
  // the tolerances stopped it (more may be line-search evaluations: counted as capped).
  run.capped = evaluations > options.max_iterations;
  return run;
}

LawFit fit_law_from(const std::vector<ScalingPoint>& points, const std::vector<LawCoordinates>& starts,
                    const LawFitOptions& options) {
  check_points(points);
  std::vector<LawRun> runs(starts.size());
  parallel_for(starts.size(), options.threads,
               [&](std::size_t i) { runs[i] = minimize_law(points, starts[i], options); });
  return best_of(runs);
}

LawFit fit_law(const std::vector<ScalingPoint>& points, const LawFitOptions& options) {
  std::vector<LawCoordinates> starts;
  for (double alpha : options.alpha_starts)
    for (double beta : options.beta_starts)
      for (double e : options.e_starts)
        for (double a : options.a_starts)
          for (double b : options.b_starts) starts.push_back({a, b, e, alpha, beta});
  return fit_law_from(points, starts, options);
}

double Allocation::params(double flops) const { return G * std::pow(flops / k, a); }
double Allocation::data(double flops) const { return flops / k / params(flops); }

Allocation allocation(const ScalingLaw& law, double k) {
  Allocation out;
  const double sum = law.alpha + law.beta;
  out.a = law.beta / sum;
  out.b = law.alpha / sum;
  out.G = std::pow(law.alpha * law.A / (law.beta * law.B), 1.0 / sum);
  out.k = k;
  return out;
}

double flops_per_param_datum(const std::vector<ScalingPoint>& points) {
  std::vector<double> ratios;
  for (const auto& p : points) {
    if (p.flops > 0 && p.params > 0 && p.data > 0) ratios.push_back(p.flops / (p.params * p.data));
  }
  if (ratios.empty()) throw std::invalid_argument("no run has FLOPs, N and D to relate them");
  std::sort(ratios.begin(), ratios.end());
  const std::size_t n = ratios.size();
  return n % 2 ? ratios[n / 2] : 0.5 * (ratios[n / 2 - 1] + ratios[n / 2]);
}

std::array<double, 2> percentile_interval(std::vector<double> values, double level) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }),
               values.end());
  if (values.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan};
  }
  std::sort(values.begin(), values.end());
  auto at = [&](double q) {
    const double position = q * static_cast<double>(values.size() - 1);
    const auto below = static_cast<std::size_t>(std::floor(position));
    const std::size_t above = std::min(below + 1, values.size() - 1);
    const double fraction = position - static_cast<double>(below);
    return values[below] + fraction * (values[above] - values[below]);
  };
  const double tail = 0.5 * (1.0 - level);
  return {at(tail), at(1.0 - tail)};
}

std::vector<std::size_t> bootstrap_indices(std::size_t n, std::uint64_t seed, std::uint64_t replicate) {
  Rng rng(seed, replicate);
  std::vector<std::size_t> out(n);
  for (auto& i : out) i = static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(n) - 1));
  return out;
}

std::vector<ScalingLaw> bootstrap_law(const std::vector<ScalingPoint>& points, const LawFit& full,
                                      const LawFitOptions& options, const BootstrapOptions& bootstrap) {
  std::vector<LawCoordinates> starts{full.x};
  for (const auto& o : full.optima) {
    if (starts.size() >= std::max<std::size_t>(1, bootstrap.starts)) break;
    if (!same_optimum(o, full.x)) starts.push_back(o);
  }
  const auto replicates = static_cast<std::size_t>(std::max(0, bootstrap.replicates));
  std::vector<ScalingLaw> laws(replicates);
  LawFitOptions serial = options;
  serial.threads = 1;  // the replicates are the parallel work
  parallel_for(replicates, options.threads, [&](std::size_t r) {
    std::vector<ScalingPoint> sample;
    for (std::size_t i : bootstrap_indices(points.size(), bootstrap.seed, r)) sample.push_back(points[i]);
    std::vector<LawRun> runs;
    for (const auto& start : starts) runs.push_back(minimize_law(sample, start, serial));
    laws[r] = best_of(runs).law;
  });
  return laws;
}

}  // namespace trafficfm::core

#include "core/scaling/isoflop.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/rng.h"

namespace trafficfm::core {

namespace {

// Least squares of y on the columns [1, u, u^2, ...] (degree + 1 of them).
std::vector<double> polynomial_least_squares(const std::vector<double>& u, const std::vector<double>& y,
                                             int degree) {
  const auto n = static_cast<std::int64_t>(u.size());
  auto design = at::empty({n, degree + 1}, at::kDouble);
  auto target = at::empty({n, 1}, at::kDouble);
  auto d = design.accessor<double, 2>();
  auto t = target.accessor<double, 2>();
  for (std::int64_t i = 0; i < n; ++i) {
    double power = 1;
    for (int k = 0; k <= degree; ++k, power *= u[i]) d[i][k] = power;
    t[i][0] = y[i];
  }
  // gelsd: the SVD driver, well defined also for a rank-deficient design.
  const auto solution = std::get<0>(at::linalg_lstsq(design, target, c10::nullopt, "gelsd"));
  std::vector<double> out(degree + 1);
  for (int k = 0; k <= degree; ++k) out[k] = solution[k][0].item<double>();
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

std::string budget_text(double budget) {
  std::ostringstream out;
  out.precision(3);
  out << budget;
  return out.str();
}

}  // namespace

std::array<double, 3> fit_parabola(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 3) throw std::invalid_argument("a parabola needs at least 3 points");
  // Centred for conditioning (log N spans ~15-20 around its mean), then expanded back.
  const double m = mean(x);
  std::vector<double> u;
  for (double v : x) u.push_back(v - m);
  const auto d = polynomial_least_squares(u, y, 2);
  return {d[0] - d[1] * m + d[2] * m * m, d[1] - 2 * d[2] * m, d[2]};
}

double PowerLaw::at(double x) const { return coefficient * std::pow(x, exponent); }

PowerLaw fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2)
    throw std::invalid_argument("a power law needs at least 2 points");
  std::vector<double> lx, ly;
  for (std::size_t i = 0; i < x.size(); ++i) {
    lx.push_back(std::log(x[i]));
    ly.push_back(std::log(y[i]));
  }
  const double m = mean(lx);
  for (double& v : lx) v -= m;
  const auto d = polynomial_least_squares(lx, ly, 1);
  return PowerLaw{std::exp(d[0] - d[1] * m), d[1]};
}

IsoFlopFit fit_isoflop(const std::vector<ScalingPoint>& points) {
  std::map<double, std::vector<std::size_t>> budgets;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].budget > 0) budgets[points[i].budget].push_back(i);
  }
  IsoFlopFit fit;
  for (const auto& [budget, members] : budgets) {
    const std::string what = "budget " + budget_text(budget);
    std::set<double> sizes;
    std::vector<double> log_n, log_d, loss;
    for (std::size_t i : members) {
      sizes.insert(points[i].params);
      log_n.push_back(std::log(points[i].params));
      log_d.push_back(std::log(points[i].data));
      loss.push_back(points[i].loss);
    }
    if (sizes.size() < 3) {
      fit.left_out.push_back({what, std::to_string(sizes.size()) + " model size(s): a parabola needs 3"});
      continue;
    }
    IsoFlopProfile profile;
    profile.budget = budget;
    profile.points = members;
    profile.in_log_params = fit_parabola(log_n, loss);
    profile.in_log_data = fit_parabola(log_d, loss);
    const auto& cn = profile.in_log_params;
    const auto& cd = profile.in_log_data;
    if (!(cn[2] > 0) || !(cd[2] > 0)) {
      fit.left_out.push_back({what, "the loss has no minimum over its sizes (the parabola opens downward)"});
      continue;
    }
    const double x_n = -cn[1] / (2 * cn[2]), x_d = -cd[1] / (2 * cd[2]);
    profile.params_opt = std::exp(x_n);
    profile.data_opt = std::exp(x_d);
    profile.loss_opt = cn[0] + cn[1] * x_n + cn[2] * x_n * x_n;
    const auto [lo, hi] = std::minmax_element(log_n.begin(), log_n.end());
    profile.extrapolated = x_n < *lo || x_n > *hi;
    fit.profiles.push_back(profile);
  }
  if (fit.profiles.size() < 2) {
    std::string why;
    for (const auto& l : fit.left_out) why += "; " + l.what + ": " + l.reason;
    throw std::invalid_argument("approach 2 needs IsoFLOP minima at 2 budgets or more, found " +
                                std::to_string(fit.profiles.size()) + why);
  }
  std::vector<double> c, n, d;
  for (const auto& p : fit.profiles) {
    c.push_back(p.budget);
    n.push_back(p.params_opt);
    d.push_back(p.data_opt);
  }
  fit.params_opt = fit_power_law(c, n);
  fit.data_opt = fit_power_law(c, d);
  return fit;
}

IsoFlopReplicates bootstrap_isoflop(const std::vector<ScalingPoint>& points, int replicates,
                                    std::uint64_t seed) {
  // Only the budgets the full fit kept: a replicate is the same design, resampled.
  std::map<double, std::vector<std::size_t>> budgets;
  for (const auto& profile : fit_isoflop(points).profiles) budgets[profile.budget] = profile.points;
  IsoFlopReplicates out;
  for (int r = 0; r < replicates; ++r) {
    std::vector<ScalingPoint> sample;
    std::uint64_t group = 0;
    for (const auto& [budget, members] : budgets) {
      // Each budget resampled on its own stream: a replicate keeps every budget's run count.
      const auto picks =
          bootstrap_indices(members.size(), derive_seed(seed, group++), static_cast<std::uint64_t>(r));
      for (std::size_t k : picks) sample.push_back(points[members[k]]);
    }
    try {
      const auto fit = fit_isoflop(sample);
      if (fit.profiles.size() != budgets.size()) continue;  // a budget lost its minimum
      out.a.push_back(fit.params_opt.exponent);
      out.b.push_back(fit.data_opt.exponent);
      out.params_opt.push_back(fit.params_opt);
      out.data_opt.push_back(fit.data_opt);
    } catch (const std::invalid_argument&) {
    }
  }
  return out;
}

}  // namespace trafficfm::core

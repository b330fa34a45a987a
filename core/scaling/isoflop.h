// Chinchilla's approach 2 (Hoffmann et al. 2022, section 3.2): for each compute budget, the
// runs of that budget (an IsoFLOP profile) get a parabola of the loss in log N (and in log D);
// its minimum is the budget's compute-optimal N_opt (D_opt); then power laws
// N_opt = n0 C^a and D_opt = d0 C^b are fitted by least squares in log-log. Intervals come from
// bootstrap replicates that resample the runs within each budget.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "core/scaling/scaling_law.h"

namespace trafficfm::core {

// y = c0 + c1 x + c2 x^2, least squares (LibTorch's lstsq).
std::array<double, 3> fit_parabola(const std::vector<double>& x, const std::vector<double>& y);
// log y = log coefficient + exponent log x, least squares.
struct PowerLaw {
  double coefficient = 0, exponent = 0;
  double at(double x) const;
};
PowerLaw fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

struct IsoFlopProfile {
  double budget = 0;
  std::vector<std::size_t> points;        // indices into the fit's points
  std::array<double, 3> in_log_params{};  // loss = c0 + c1 log N + c2 (log N)^2
  std::array<double, 3> in_log_data{};    // loss = c0 + c1 log D + c2 (log D)^2
  double params_opt = 0, data_opt = 0, loss_opt = 0;
  bool extrapolated = false;  // a minimum outside the profile's range of N
};

struct LeftOut {
  std::string what, reason;
};

struct IsoFlopFit {
  std::vector<IsoFlopProfile> profiles;  // budgets with a usable minimum, ascending
  std::vector<LeftOut> left_out;         // budgets without one, and why
  PowerLaw params_opt, data_opt;         // N_opt(C), D_opt(C); exponent 0 when under 2 budgets
};

// Points are grouped by their `budget` (points without one are not part of approach 2). A
// budget with under 3 distinct sizes, or whose parabola opens downward, is left out with the
// reason. Throws std::invalid_argument when fewer than 2 budgets remain.
IsoFlopFit fit_isoflop(const std::vector<ScalingPoint>& points);

// Exponents a, b of replicates that resample the runs within each budget (a replicate whose
// budgets fail is skipped).
struct IsoFlopReplicates {
  std::vector<double> a, b;
  std::vector<PowerLaw> params_opt, data_opt;
};
IsoFlopReplicates bootstrap_isoflop(const std::vector<ScalingPoint>& points, int replicates,
                                    std::uint64_t seed);

}  // namespace trafficfm::core

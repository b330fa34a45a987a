// trafficfm sweep predict SWEEP --flops C [--fit FILE]: the compute-optimal model size, data
// and loss at C from SWEEP/fit.json: approach 3's allocation and L(N_opt, D_opt), with intervals
// from its bootstrap replicates, and approach 2's power laws where they were fitted.
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "core/json_value.h"
#include "core/scaling/scaling_law.h"
#include "launch/common_options.h"
#include "launch/torch/sweep_commands.h"

namespace trafficfm::launch {

namespace po = core::po;

int run_sweep_predict(const std::vector<std::string>& args) {
  po::options_description options("Options");
  options.add_options()("help,h", "print this help")("sweep", po::value<std::string>()->default_value(""),
                                                     "the sweep directory (its fit.json)")(
      "fit", po::value<std::string>()->default_value(""),
      "a fit.json elsewhere (sweep fit --runs ... --out DIR)")(
      "flops", po::value<double>()->required(), "the training compute C to allocate, in FLOPs");
  add_logging_options(options);
  po::positional_options_description positional;
  positional.add("sweep", 1);
  const auto values = core::parse_options("trafficfm sweep predict", options, args, &positional, false);
  if (values.count("help")) {
    print_help("usage: trafficfm sweep predict SWEEP --flops C", options);
    return core::kExitOk;
  }
  std::string path = values["fit"].as<std::string>();
  if (path.empty()) {
    if (values["sweep"].as<std::string>().empty())
      throw core::UsageError("give a SWEEP directory or --fit FILE");
    path = values["sweep"].as<std::string>() + "/fit.json";
  }
  const double c = values["flops"].as<double>();
  if (!(c > 0) || !std::isfinite(c)) throw core::UsageError("--flops must be a positive number");
  std::ifstream in(path);
  if (!in) throw core::UsageError("no fit at " + path + " (run `trafficfm sweep fit` first)");
  std::stringstream text;
  text << in.rdbuf();
  core::JsonValue fit;
  try {
    fit = core::JsonValue::parse(text.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  const auto& a3 = fit["approach3"];
  const double level = fit["level"].as_number(), k = a3["k"].as_number();
  const core::ScalingLaw law{a3["E"].as_number(), a3["A"].as_number(), a3["B"].as_number(),
                             a3["alpha"].as_number(), a3["beta"].as_number()};
  const auto alloc = core::allocation(law, k);
  std::vector<double> ns, ds, ls;
  for (const auto& r : a3["replicates"].as_array()) {
    const auto& v = r.as_array();
    const core::ScalingLaw rep{v[0].as_number(), v[1].as_number(), v[2].as_number(), v[3].as_number(),
                               v[4].as_number()};
    const auto a = core::allocation(rep, k);
    ns.push_back(a.params(c));
    ds.push_back(a.data(c));
    ls.push_back(rep.loss(a.params(c), a.data(c)));
  }
  const std::string unit = fit["data"].as_string();
  std::cout << std::setprecision(4) << "At C = " << c << " training FLOPs (" << level * 100
            << "% bootstrap intervals; N = " << fit["params"].as_string() << " parameters, D = " << unit
            << "):\n";
  auto row = [&](const char* what, double value, const std::vector<double>& reps) {
    const auto ci = core::percentile_interval(reps, level);
    std::cout << "  " << std::left << std::setw(8) << what << std::right << std::setw(12) << value << "   ["
              << ci[0] << ", " << ci[1] << "]\n";
  };
  std::cout << "approach 3:\n";
  row("N_opt", alloc.params(c), ns);
  row("D_opt", alloc.data(c), ds);
  row("loss", law.loss(alloc.params(c), alloc.data(c)), ls);
  const auto& a2 = fit["approach2"];
  if (a2.has("a")) {
    std::cout << "approach 2:\n  N_opt " << std::setw(12)
              << a2["n_coefficient"].as_number() * std::pow(c, a2["a"].as_number()) << "\n  D_opt "
              << std::setw(12) << a2["d_coefficient"].as_number() * std::pow(c, a2["b"].as_number()) << "\n";
  }
  const double lo =
      fit["points"].as_array().empty() ? c : fit["points"].as_array().front()["flops"].as_number();
  double hi = lo;
  for (const auto& p : fit["points"].as_array()) hi = std::max(hi, p["flops"].as_number());
  if (c > 10 * hi)
    std::cout << "note: C is " << std::setprecision(3) << c / hi
              << "x the largest run's compute: an extrapolation the runs cannot check\n";
  return core::kExitOk;
}

}  // namespace trafficfm::launch

// trafficfm sweep fit SWEEP | --runs CSV --out DIR: scaling laws from finished runs.
//  - approach 3: L(N, D) = E + A/N^alpha + B/D^beta by Huber loss on log L from Chinchilla's
//    4,500 initializations (core/scaling/scaling_law.h), then the compute-optimal allocation
//    N_opt ∝ C^a, D_opt ∝ C^b under C = k N D;
//  - approach 2: a parabola per IsoFLOP budget, its minima, power laws in C
//    (core/scaling/isoflop.h);
//  - intervals: --bootstrap replicates resampling the runs (approach 2: within each budget),
//    central --level (0.8: the 10th to 90th percentiles, as Chinchilla reports);
//  - writes DIR/fit.json, DIR/fit.txt and DIR/plots/*.png (scripts/sweep_plots.py, built in, run
//    by /usr/bin/python3 with matplotlib).
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/log.h"
#include "core/scaling/isoflop.h"
#include "core/scaling/scaling_law.h"
#include "launch/common_options.h"
#include "launch/sweep/sweep_points.h"
#include "launch/torch/sweep_commands.h"

namespace trafficfm::launch {

const std::string& embedded_script(const std::string& name);  // generated from scripts/

namespace po = core::po;

namespace {

po::options_description fit_options() {
  po::options_description options("Options");
  options.add_options()("help,h", "print this help")("sweep", po::value<std::string>()->default_value(""),
                                                     "the sweep directory (its runs' summaries are read)")(
      "runs", po::value<std::string>()->default_value(""),
      "instead of a sweep: a CSV of runs with columns params,tokens,flops,loss (name, budget optional)")(
      "out", po::value<std::string>()->default_value(""),
      "where fit.json, fit.txt and plots/ go (default: SWEEP)")(
      "params", po::value<std::string>()->default_value("non-embedding"),
      "N of a sweep's runs: non-embedding | total parameters")(
      "data", po::value<std::string>()->default_value("auto"),
      "D of a sweep's runs: tokens | samples | auto (tokens when the model counts them)")(
      "metric", po::value<std::string>()->default_value("val_loss"), "the evaluation term that is fitted")(
      "bootstrap", po::value<int>()->default_value(1000), "bootstrap replicates for the intervals")(
      "level", po::value<double>()->default_value(0.8), "central level of the intervals")(
      "seed", po::value<std::uint64_t>()->default_value(0), "seed of the bootstrap resampling")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: the machine's cores)")(
      "plots", po::value<std::string>()->default_value("on"), "on | off: PNG plots with matplotlib");
  add_logging_options(options);
  return options;
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

std::string interval_json(const std::array<double, 2>& interval) {
  return "[" + core::json_number(interval[0]) + "," + core::json_number(interval[1]) + "]";
}

std::string numbers_json(const std::vector<double>& values) {
  std::vector<std::string> items;
  for (double v : values) items.push_back(core::json_number(v));
  return json_list(items);
}

// Runs the built-in plotting script; a missing python3 or matplotlib is a warning, not a failure
// (fit.json is the result; the plots are views of it).
void write_plots(const std::string& fit_json, const std::string& dir) {
  const std::string script = dir + "/.sweep_plots.py";
  core::write_file_atomically(script, embedded_script("sweep_plots.py"));
  const std::string command = "/usr/bin/python3 '" + script + "' '" + fit_json + "' '" + dir + "/plots' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  if (pipe) {
    char buffer[4096];
    for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  }
  const int status = pipe ? pclose(pipe) : -1;
  std::filesystem::remove(script);
  if (status != 0) {
    core::log_warn(
        "sweep fit: no plots (/usr/bin/python3 with python3-matplotlib is needed; "
        "scripts/setup.sh installs it): ",
        output);
    return;
  }
  core::log_info("sweep fit: plots in ", dir, "/plots (loss_vs_flops, isoflop, allocation, predicted).png");
}

}  // namespace

int run_sweep_fit(const std::vector<std::string>& args) {
  const auto options = fit_options();
  po::positional_options_description positional;
  positional.add("sweep", 1);
  const auto values = core::parse_options("trafficfm sweep fit", options, args, &positional, false);
  if (values.count("help")) {
    print_help("usage: trafficfm sweep fit SWEEP | --runs CSV --out DIR  [--bootstrap 1000 --level 0.8]",
               options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  const std::string sweep = values["sweep"].as<std::string>(), runs = values["runs"].as<std::string>();
  if (sweep.empty() == runs.empty())
    throw core::UsageError("trafficfm sweep fit: give a SWEEP directory or --runs CSV");
  std::string out = values["out"].as<std::string>();
  if (out.empty()) {
    if (sweep.empty()) throw core::UsageError("trafficfm sweep fit --runs: --out DIR is required");
    out = sweep;
  }
  const std::string params = values["params"].as<std::string>();
  if (params != "non-embedding" && params != "total")
    throw core::UsageError("--params must be non-embedding or total, not '" + params + "'");
  const double level = values["level"].as<double>();
  if (!(level > 0 && level < 1)) throw core::UsageError("--level must lie in (0, 1)");
  CollectOptions collect;
  collect.non_embedding = params == "non-embedding";
  collect.data = values["data"].as<std::string>();
  collect.metric = values["metric"].as<std::string>();
  const CollectedPoints collected =
      runs.empty() ? collect_sweep_points(sweep, read_sweep_plan(sweep), collect) : collect_csv_points(runs);
  for (const auto& l : collected.left_out) core::log_warn("sweep fit: left out ", l.what, ": ", l.reason);
  const auto& points = collected.points;
  core::log_info("sweep fit: ", points.size(), " runs (", collected.left_out.size(),
                 " left out); N = ", runs.empty() ? params : std::string("params"),
                 " parameters, D = ", collected.data_unit);
  std::filesystem::create_directories(out);
  std::vector<std::string> left_rows;
  for (const auto& l : collected.left_out)
    left_rows.push_back(core::JsonObject().set("name", l.what).set("reason", l.reason).str());
  auto point_rows = [&](const core::ScalingLaw* law) {
    std::vector<std::string> rows;
    for (const auto& p : points) {
      core::JsonObject row;
      row.set("name", p.name).set("params", p.params).set("data", p.data).set("flops", p.flops);
      row.set("loss", p.loss).set("budget", p.budget);
      if (law) row.set("predicted", law->loss(p.params, p.data));
      rows.push_back(row.str());
    }
    return json_list(rows);
  };
  core::JsonObject fit;
  fit.set("format", 1).set("source", runs.empty() ? sweep : runs);
  fit.set("params", runs.empty() ? params : std::string("params")).set("data", collected.data_unit);
  fit.set("metric", collect.metric).set("level", level);
  const std::string fit_json = out + "/fit.json";
  if (points.size() < 5) {
    // What was read is still written down: the runs and why the others are out.
    const std::string why = "a scaling-law fit needs at least 5 finished runs (5 parameters); " +
                            std::to_string(points.size()) + " finished";
    fit.set("approach3", core::JsonObject().set("error", why))
        .set("approach2", core::JsonObject().set("error", why));
    fit.set_raw("points", point_rows(nullptr)).set_raw("left_out", json_list(left_rows));
    core::write_file_atomically(fit_json, fit.str() + "\n");
    for (const auto& p : points)
      core::log_info("sweep fit: read ", p.name, ": N ", p.params, ", D ", p.data, ", C ", p.flops, ", loss ",
                     p.loss);
    throw std::runtime_error(why + " (" + fit_json + " lists them; the left-out runs are named above)");
  }

  core::LawFitOptions law_options;
  law_options.threads = values["threads"].as<int>();
  core::BootstrapOptions bootstrap;
  bootstrap.replicates = values["bootstrap"].as<int>();
  bootstrap.seed = values["seed"].as<std::uint64_t>();
  const auto started = std::chrono::steady_clock::now();
  const auto law_fit = core::fit_law(points, law_options);
  const double k = core::flops_per_param_datum(points);
  const auto alloc = core::allocation(law_fit.law, k);
  core::log_info("sweep fit: approach 3 from ", law_fit.starts, " starts in ",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                 " s; bootstrap of ", bootstrap.replicates, " replicates");
  const auto replicates = core::bootstrap_law(points, law_fit, law_options, bootstrap);
  std::map<std::string, std::vector<double>> samples;
  std::vector<std::string> replicate_rows;
  for (const auto& r : replicates) {
    const auto a = core::allocation(r, k);
    samples["E"].push_back(r.E);
    samples["A"].push_back(r.A);
    samples["B"].push_back(r.B);
    samples["alpha"].push_back(r.alpha);
    samples["beta"].push_back(r.beta);
    samples["a"].push_back(a.a);
    samples["b"].push_back(a.b);
    replicate_rows.push_back(numbers_json({r.E, r.A, r.B, r.alpha, r.beta}));
  }
  const std::map<std::string, double> best{
      {"E", law_fit.law.E},       {"A", law_fit.law.A}, {"B", law_fit.law.B}, {"alpha", law_fit.law.alpha},
      {"beta", law_fit.law.beta}, {"a", alloc.a},       {"b", alloc.b}};
  core::JsonObject a3, a3_intervals;
  for (const auto& [name, value] : best) {
    a3.set(name, value);
    a3_intervals.set_raw(name, interval_json(core::percentile_interval(samples[name], level)));
  }
  a3.set("G", alloc.G).set("k", k).set("objective", law_fit.objective);
  a3.set("starts", static_cast<std::int64_t>(law_fit.starts));
  a3.set("starts_capped", static_cast<std::int64_t>(law_fit.starts_capped))
      .set("best_capped", law_fit.capped);
  if (law_fit.capped)
    core::log_warn("sweep fit: the best L-BFGS start stopped at its iteration cap, not on its tolerances");
  a3.set("intervals", a3_intervals).set_raw("replicates", json_list(replicate_rows));

  // Approach 2, where the runs form IsoFLOP budgets.
  core::JsonObject a2;
  std::vector<std::string> left_out;
  core::IsoFlopFit iso;
  bool have_iso = false;
  try {
    iso = core::fit_isoflop(points);
    have_iso = true;
  } catch (const std::invalid_argument& e) {
    a2.set("error", std::string(e.what()));
    core::log_warn("sweep fit: approach 2 not fitted: ", e.what());
  }
  if (have_iso) {
    const auto reps = core::bootstrap_isoflop(points, bootstrap.replicates, bootstrap.seed);
    std::vector<std::string> budgets, skipped;
    for (const auto& p : iso.profiles) {
      std::vector<double> members;
      for (std::size_t i : p.points) members.push_back(static_cast<double>(i));
      budgets.push_back(
          core::JsonObject()
              .set("budget", p.budget)
              .set("N_opt", p.params_opt)
              .set("D_opt", p.data_opt)
              .set("loss_opt", p.loss_opt)
              .set("extrapolated", p.extrapolated)
              .set("points", members)
              .set("parabola_n", std::vector<double>(p.in_log_params.begin(), p.in_log_params.end()))
              .set("parabola_d", std::vector<double>(p.in_log_data.begin(), p.in_log_data.end()))
              .str());
    }
    for (const auto& l : iso.left_out)
      skipped.push_back(core::JsonObject().set("budget", l.what).set("reason", l.reason).str());
    a2.set("a", iso.params_opt.exponent).set("b", iso.data_opt.exponent);
    a2.set("n_coefficient", iso.params_opt.coefficient).set("d_coefficient", iso.data_opt.coefficient);
    a2.set("intervals", core::JsonObject()
                            .set_raw("a", interval_json(core::percentile_interval(reps.a, level)))
                            .set_raw("b", interval_json(core::percentile_interval(reps.b, level))));
    a2.set("replicates_used", static_cast<std::int64_t>(reps.a.size()));
    a2.set_raw("budgets", json_list(budgets)).set_raw("left_out", json_list(skipped));
  }

  fit.set("bootstrap", bootstrap.replicates)
      .set("seed", bootstrap.seed)
      .set("approach3", a3)
      .set("approach2", a2);
  fit.set_raw("points", point_rows(&law_fit.law)).set_raw("left_out", json_list(left_rows));
  core::write_file_atomically(fit_json, fit.str() + "\n");

  // The readable table.
  std::ostringstream text;
  text << std::setprecision(4);
  text << "Scaling-law fit of " << points.size() << " runs (" << collected.left_out.size()
       << " left out); N: " << (runs.empty() ? params : std::string("params"))
       << " parameters, D: " << collected.data_unit << "; " << level * 100 << "% bootstrap intervals over "
       << bootstrap.replicates << " replicates\n\n";
  text << "Approach 3: L(N, D) = E + A / N^alpha + B / D^beta  (Huber " << law_options.huber_delta
       << " on log L, " << law_fit.starts << " L-BFGS starts, " << law_fit.starts_capped
       << " stopped by the iteration cap" << (law_fit.capped ? ", THE BEST AMONG THEM" : "") << ")\n";
  for (const char* name : {"E", "A", "B", "alpha", "beta"}) {
    const auto ci = core::percentile_interval(samples[name], level);
    text << "  " << std::left << std::setw(6) << name << std::right << std::setw(12) << best.at(name)
         << "   [" << ci[0] << ", " << ci[1] << "]\n";
  }
  text << "  allocation under C = k N D, k = " << k << ":\n";
  for (const char* name : {"a", "b"}) {
    const auto ci = core::percentile_interval(samples[name], level);
    text << "    " << (name[0] == 'a' ? "N_opt ∝ C^a, a = " : "D_opt ∝ C^b, b = ") << best.at(name) << "   ["
         << ci[0] << ", " << ci[1] << "]\n";
  }
  text << "\nApproach 2: IsoFLOP parabolas\n";
  if (have_iso) {
    for (const auto& p : iso.profiles) {
      text << "  C = " << p.budget << ": N_opt " << p.params_opt << ", D_opt " << p.data_opt << ", loss "
           << p.loss_opt << " (" << p.points.size() << " runs"
           << (p.extrapolated ? ", minimum extrapolated" : "") << ")\n";
    }
    for (const auto& l : iso.left_out) text << "  " << l.what << " left out: " << l.reason << "\n";
    text << "  N_opt ∝ C^a, a = " << iso.params_opt.exponent << "; D_opt ∝ C^b, b = " << iso.data_opt.exponent
         << "\n";
  } else {
    text << "  not fitted: " << a2.str() << "\n";
  }
  text << "\nRuns:\n  " << std::left << std::setw(24) << "name" << std::right << std::setw(12) << "N"
       << std::setw(12) << "D" << std::setw(12) << "C" << std::setw(10) << "loss" << std::setw(11)
       << "predicted\n";
  for (const auto& p : points) {
    text << "  " << std::left << std::setw(24) << p.name << std::right << std::setw(12) << p.params
         << std::setw(12) << p.data << std::setw(12) << p.flops << std::setw(10) << p.loss << std::setw(10)
         << law_fit.law.loss(p.params, p.data) << "\n";
  }
  for (const auto& l : collected.left_out) text << "  left out " << l.what << ": " << l.reason << "\n";
  core::write_file_atomically(out + "/fit.txt", text.str());
  std::cout << text.str() << std::flush;
  if (values["plots"].as<std::string>() == "on") write_plots(fit_json, out);
  return core::kExitOk;
}

}  // namespace trafficfm::launch

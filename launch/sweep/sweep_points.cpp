#include "launch/sweep/sweep_points.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/json_value.h"
#include "datasets/labels/csv.h"

namespace trafficfm::launch {

namespace {

bool positive(double v) { return std::isfinite(v) && v > 0; }

std::string text_of(double v) {
  std::ostringstream out;
  out.precision(4);
  out << v;
  return out.str();
}

}  // namespace

CollectedPoints collect_sweep_points(const std::string& sweep_dir, const SweepPlan& plan,
                                     const CollectOptions& options) {
  struct Read {
    core::ScalingPoint point;
    double tokens = 0, samples = 0;
  };
  std::vector<Read> read;
  CollectedPoints out;
  for (const auto& p : plan.points) {
    const std::string path = point_run_dir(sweep_dir, p) + "/summary.json";
    std::ifstream in(path);
    if (!in) {
      out.left_out.push_back({p.name, "never finished: no summary.json (not run yet, or still running)"});
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    core::JsonValue summary;
    try {
      summary = core::JsonValue::parse(text.str());
    } catch (const std::exception& e) {
      out.left_out.push_back({p.name, path + " is not valid JSON: " + e.what()});
      continue;
    }
    try {
      const auto steps = summary["steps"].as_int();
      if (!summary["finished"].as_bool()) {
        const auto code = summary["exit_code"].as_int();
        out.left_out.push_back(
            {p.name, code == 1 ? "diverged: stopped on non-finite losses at step " + std::to_string(steps)
                               : "never finished: stopped at step " + std::to_string(steps) + " of ~" +
                                     std::to_string(p.steps) + " (exit code " + std::to_string(code) + ")"});
        continue;
      }
      const auto& val = summary["val"];
      if (!val.has(options.metric)) {
        out.left_out.push_back({p.name, "no " + options.metric + " in its summary (no final evaluation)"});
        continue;
      }
      if (val[options.metric].is_null()) {  // JSON has no NaN: a non-finite value is written as null
        out.left_out.push_back({p.name, "diverged: its final " + options.metric + " is not finite"});
        continue;
      }
      Read r;
      r.point.name = p.name;
      r.point.loss = val[options.metric].as_number();
      if (!positive(r.point.loss)) {
        out.left_out.push_back({p.name, "diverged: " + options.metric + " " + text_of(r.point.loss)});
        continue;
      }
      const auto& parameters = summary["parameters"];
      r.point.params = parameters[options.non_embedding ? "non_embedding" : "total"].as_number();
      r.point.flops = summary["flops"].as_number();
      r.point.budget = p.budget;
      r.tokens = summary["tokens"].as_number();
      r.samples = summary["samples"].as_number();
      read.push_back(r);
    } catch (const std::exception& e) {
      out.left_out.push_back({p.name, path + ": " + e.what()});
    }
  }
  bool tokens = options.data == "tokens";
  if (options.data == "auto") {
    tokens =
        !read.empty() && std::all_of(read.begin(), read.end(), [](const Read& r) { return r.tokens > 0; });
  } else if (options.data != "samples" && options.data != "tokens") {
    throw core::UsageError("--data must be tokens, samples or auto, not '" + options.data + "'");
  }
  out.data_unit = tokens ? "tokens" : "samples";
  for (auto& r : read) {
    r.point.data = tokens ? r.tokens : r.samples;
    if (!positive(r.point.params) || !positive(r.point.data) || !positive(r.point.flops)) {
      out.left_out.push_back({r.point.name, "its summary has no positive N, D or FLOPs"});
      continue;
    }
    out.points.push_back(r.point);
  }
  return out;
}

CollectedPoints collect_csv_points(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::UsageError("cannot read the runs file '" + path + "'");
  std::string line;
  if (!std::getline(in, line))
    throw core::UsageError(path + " is empty (it needs a header: params,tokens,flops,loss)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const auto header = datasets::split_csv_line(line);
  std::string missing;
  for (const char* need : {"params", "tokens", "flops", "loss"}) {
    if (datasets::find_column(header, need) < 0) missing += std::string(missing.empty() ? "" : ", ") + need;
  }
  if (!missing.empty())
    throw core::UsageError(path + " lacks the column(s) " + missing +
                           " (a runs file has params,tokens,flops,loss)");
  const int c_params = datasets::find_column(header, "params"),
            c_tokens = datasets::find_column(header, "tokens"),
            c_flops = datasets::find_column(header, "flops"), c_loss = datasets::find_column(header, "loss"),
            c_name = datasets::find_column(header, "name"),
            c_budget = datasets::find_column(header, "budget");
  CollectedPoints out;
  for (int number = 2; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cells = datasets::split_csv_line(line);
    const std::string name = c_name >= 0 && c_name < static_cast<int>(cells.size())
                                 ? cells[c_name]
                                 : "line " + std::to_string(number);
    auto number_at = [&](int column, double& value) {
      if (column < 0 || column >= static_cast<int>(cells.size())) return false;
      std::size_t used = 0;
      try {
        value = std::stod(cells[column], &used);
      } catch (const std::exception&) {
        return false;
      }
      return used == cells[column].size();
    };
    core::ScalingPoint p;
    p.name = name;
    if (!number_at(c_params, p.params) || !number_at(c_tokens, p.data) || !number_at(c_flops, p.flops) ||
        !number_at(c_loss, p.loss) || (c_budget >= 0 && !number_at(c_budget, p.budget))) {
      out.left_out.push_back(
          {name, path + ":" + std::to_string(number) + ": a value is missing or not a number"});
      continue;
    }
    if (!positive(p.params) || !positive(p.data) || !positive(p.flops) || !positive(p.loss)) {
      out.left_out.push_back({name, path + ":" + std::to_string(number) +
                                        ": params, tokens, flops and loss must be positive and finite"});
      continue;
    }
    out.points.push_back(p);
  }
  if (c_budget < 0) {
    // IsoFLOP budgets from the FLOPs themselves: sorted, a new budget where a run spent over
    // 10% more than the first run of the current one; each budget is its runs' geometric mean.
    std::vector<std::size_t> order(out.points.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return out.points[a].flops < out.points[b].flops; });
    for (std::size_t begin = 0; begin < order.size();) {
      std::size_t end = begin;
      double log_sum = 0;
      while (end < order.size() && out.points[order[end]].flops <= 1.1 * out.points[order[begin]].flops)
        log_sum += std::log(out.points[order[end++]].flops);
      const double budget = std::exp(log_sum / static_cast<double>(end - begin));
      for (std::size_t k = begin; k < end; ++k) out.points[order[k]].budget = budget;
      begin = end;
    }
  }
  return out;
}

}  // namespace trafficfm::launch

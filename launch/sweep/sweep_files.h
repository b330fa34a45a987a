// The files of a scaling-law sweep (docs/sweep.md):
//   LADDER            the model sizes: a header line `name KEY...` (KEY: a pretrain option such as
//                     mmae.dim), then one rung per line `NAME VALUE...`; # comments, blank lines
//   SWEEP/sweep.json  the plan: base config, corpus, the options every point gets, and each
//                     point's rung, budget, N, FLOPs per sample, samples and options
//   SWEEP/plan.tsv    the same points as a table to read
//   SWEEP/sweep.txt   the points as a `trafficfm submit --sweep` file (NAME OPTIONS... per line)
//   SWEEP/base.ini    a copy of the base config (a sweep does not depend on the file it came from)
//   SWEEP/runs/NAME   each point's run directory
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trafficfm::launch {

struct Rung {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;  // pretrain option -> value
  std::vector<std::string> arguments() const;                // --KEY VALUE ...
};
// Throws core::UsageError naming the file and line (unknown layout, repeated name, a row with
// another number of values than the header, a name that is not a directory name).
std::vector<Rung> read_ladder(const std::string& path);

struct SweepPoint {
  std::string name;  // run directory under SWEEP/runs
  std::string rung;
  double budget = 0;  // FLOPs it was planned for (0: a grid point)
  double params = 0, non_embedding_params = 0;
  double flops_per_sample = 0, tokens_per_sample = 0;
  std::uint64_t samples = 0, steps = 0;  // steps at the plan's dp
  std::vector<std::string> options;      // the point's own training options
};

struct Skipped {
  std::string what, reason;
};

struct SweepPlan {
  std::string mode = "isoflop";  // isoflop | grid
  std::string model, config, corpus;
  std::vector<std::string> common;  // options every point gets, before its own
  int dp = 1;
  std::vector<SweepPoint> points;
  std::vector<Skipped> skipped;  // rungs and (rung, budget) pairs left out, with the reason
};

// Writes sweep.json, plan.tsv and sweep.txt into `dir` (each atomically).
void write_sweep_plan(const std::string& dir, const SweepPlan& plan);
// Reads SWEEP/sweep.json; throws std::runtime_error naming the file.
SweepPlan read_sweep_plan(const std::string& dir);

std::string point_run_dir(const std::string& sweep_dir, const SweepPoint& point);

// A number as a name part: 1e+15 -> "1e15", 3e+15 -> "3e15", 2.5e+14 -> "2.5e14".
std::string compact_number(double value);

}  // namespace trafficfm::launch

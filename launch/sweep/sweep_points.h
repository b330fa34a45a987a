// The runs a scaling-law fit reads, and those it leaves out with the reason.
//  - From a sweep: each planned point's RUN/summary.json (the trainer writes it at the end of a
//    run): N from its parameter counts, D from the tokens (or samples) it trained on, C from the
//    FLOPs it spent, the loss from its final evaluation, the budget from the plan. A point with
//    no summary, one that stopped before its end, one that stopped on non-finite losses, and one
//    whose val loss is missing or not finite are left out, each named with its reason.
//  - From a CSV (`--runs`): columns params, tokens, flops, loss (any order; name and budget
//    optional); a file without one of the four is refused naming it; a row whose numbers do not
//    parse or are not positive and finite is left out with its line number. Without a budget
//    column, runs whose FLOPs lie within 10% of each other form one IsoFLOP budget.
#pragma once
#include <string>
#include <vector>

#include "core/scaling/scaling_law.h"
#include "launch/sweep/sweep_files.h"

namespace trafficfm::launch {

struct CollectedPoints {
  std::vector<core::ScalingPoint> points;
  std::vector<Skipped> left_out;
  std::string data_unit = "tokens";  // tokens | samples
};

struct CollectOptions {
  bool non_embedding = true;  // N: non-embedding parameters (false: all)
  std::string data = "auto";  // tokens | samples | auto (tokens when the runs count them)
  std::string metric = "val_loss";
};

CollectedPoints collect_sweep_points(const std::string& sweep_dir, const SweepPlan& plan,
                                     const CollectOptions& options);
CollectedPoints collect_csv_points(const std::string& path);

}  // namespace trafficfm::launch

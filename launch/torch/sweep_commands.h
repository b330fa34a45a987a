// The verbs of `trafficfm sweep` (docs/sweep.md): plan a scaling-law experiment, run its points
// (locally or as a Slurm array), fit scaling laws to what they reached, and predict from the fit.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::launch {

int run_sweep_plan(const std::vector<std::string>& args);     // sweep_plan.cpp
int run_sweep_run(const std::vector<std::string>& args);      // sweep_run.cpp
int run_sweep_fit(const std::vector<std::string>& args);      // sweep_fit.cpp
int run_sweep_predict(const std::vector<std::string>& args);  // sweep_predict.cpp

}  // namespace trafficfm::launch

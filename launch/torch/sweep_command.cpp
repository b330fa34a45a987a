// trafficfm sweep <plan | run | fit | predict>: dispatches to the verb.
#include <cstdio>

#include "core/errors.h"
#include "launch/torch/sweep_commands.h"
#include "launch/torch/torch_commands.h"

namespace trafficfm::launch {

int run_sweep(const std::vector<std::string>& args) {
  static const char* const usage =
      "usage: trafficfm sweep <verb> [options]   (trafficfm sweep <verb> --help)\n\n"
      "Scaling-law experiments (docs/sweep.md):\n"
      "  plan     --config BASE.ini --ladder FILE --corpus C --out SWEEP (--budgets C1,C2,... | --grid "
      "--samples ...)\n"
      "  run      SWEEP (--local [-np K] | --submit [trafficfm submit options])\n"
      "  fit      SWEEP | --runs CSV --out DIR: Chinchilla's approaches 2 and 3, bootstrap intervals, plots\n"
      "  predict  SWEEP --flops C: compute-optimal N, D and loss with intervals\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("%s", usage);
    return args.empty() ? core::kExitUsage : core::kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "plan") return run_sweep_plan(rest);
  if (args[0] == "run") return run_sweep_run(rest);
  if (args[0] == "fit") return run_sweep_fit(rest);
  if (args[0] == "predict") return run_sweep_predict(rest);
  throw core::UsageError("trafficfm sweep: unknown verb '" + args[0] + "' (plan, run, fit or predict)");
}

}  // namespace trafficfm::launch

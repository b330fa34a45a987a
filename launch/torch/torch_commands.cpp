// Entry point of libtrafficfm_torch.so: dispatches a subcommand and maps errors to exit codes
// (0 ok, 1 failure, 2 usage), so no exception crosses the dlopen boundary.
#include "launch/torch/torch_commands.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <exception>

#include "core/errors.h"
#include "core/log.h"
#include "core/malloc_tuning.h"

extern "C" int trafficfm_torch_run(const char* name, int argc, const char* const* argv) {
  namespace launch = trafficfm::launch;
  namespace core = trafficfm::core;
  const std::vector<std::string> args(argv, argv + argc);
  const std::string command = name;
  core::keep_freed_memory_for_reuse();
  try {
    if (command == "pretrain") return launch::run_pretrain(args);
    if (command == "export") return launch::run_export(args);
    if (command == "finetune") return launch::run_finetune(args);
    if (command == "eval") return launch::run_eval(args);
    if (command == "generate") return launch::run_generate(args);
    if (command == "sweep") return launch::run_sweep(args);
    std::fprintf(stderr, "libtrafficfm_torch.so: no subcommand '%s'\n", name);
    return core::kExitUsage;
  } catch (const core::UsageError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return core::kExitUsage;
  } catch (const c10::Error& e) {
    core::log_error("trafficfm ", command, ": ", e.what_without_backtrace());
    return core::kExitFailure;
  } catch (const std::exception& e) {
    core::log_error("trafficfm ", command, ": ", e.what());
    return core::kExitFailure;
  }
}

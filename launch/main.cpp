// trafficfm: the command-line entry point. Parses the subcommand name and hands the rest of
// the words to it; maps errors to exit codes (0 ok, 1 failure, 2 usage).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/log.h"
#include "core/options.h"
#include "launch/subcommand.h"

namespace {

using trafficfm::launch::Subcommand;

void print_usage() {
  std::printf("usage: trafficfm <subcommand> [options]   (trafficfm <subcommand> --help)\n\n");
  std::printf("Pretrain and fine-tune network-traffic foundation models.\n\nsubcommands:\n");
  for (const auto& s : trafficfm::launch::subcommands()) std::printf("  %-10s %s\n", s.name, s.summary);
  std::printf("\n  --version  print version, build and runtime information\n");
  std::printf("  --help     print this help\n\nexit codes: 0 ok, 1 failure, 2 usage error\n");
}

const Subcommand* find_subcommand(const std::string& name) {
  for (const auto& s : trafficfm::launch::subcommands()) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::string closest_subcommand(const std::string& name) {
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  for (const auto& s : trafficfm::launch::subcommands()) {
    const std::size_t d = trafficfm::core::edit_distance(name, s.name);
    if (d < best_distance) {
      best_distance = d;
      best = s.name;
    }
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  namespace core = trafficfm::core;
  if (argc < 2) {
    print_usage();
    return core::kExitUsage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_usage();
    return core::kExitOk;
  }
  if (first == "--version" || first == "version") return trafficfm::launch::print_version();
  const Subcommand* sub = find_subcommand(first);
  if (!sub) {
    std::fprintf(stderr,
                 "trafficfm: unknown subcommand '%s'; did you mean '%s'? (trafficfm --help lists them)\n",
                 first.c_str(), closest_subcommand(first).c_str());
    return core::kExitUsage;
  }
  try {
    return sub->run(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const core::UsageError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return core::kExitUsage;
  } catch (const std::exception& e) {
    core::log_error("trafficfm ", sub->name, ": ", e.what());
    return core::kExitFailure;
  }
}

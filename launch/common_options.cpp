#include "launch/common_options.h"

#include <filesystem>
#include <iostream>

#include "core/log.h"
#include "distributed/launch_env.h"

namespace trafficfm::launch {

void add_logging_options(core::po::options_description& options) {
  core::po::options_description log("Logging [log]");
  log.add_options()("log.level", core::po::value<std::string>()->default_value("info"),
                    "debug, info, warn or error")("log.all-ranks", core::po::bool_switch(),
                                                  "every rank prints info lines (default: rank 0 only)");
  options.add(log);
}

void apply_logging_options(const core::po::variables_map& values) {
  const distributed::LaunchEnv env = distributed::detect_launch_env();
  core::LogSettings settings;
  settings.level = core::parse_log_level(values["log.level"].as<std::string>());
  settings.all_ranks = values["log.all-ranks"].as<bool>();
  settings.rank = env.world_rank;
  settings.world_size = env.world_size;
  core::configure_logging(settings);
}

void print_help(const char* usage, const core::po::options_description& options) {
  std::cout << usage << "\n\n" << options << std::endl;
}

std::string this_executable() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("trafficfm") : path.string();
}

void split_at_separator(const std::vector<std::string>& words, std::vector<std::string>& own,
                        std::vector<std::string>& passed_on) {
  bool after_separator = false;
  for (const auto& w : words) {
    if (!after_separator && w == "--") {
      after_separator = true;
    } else {
      (after_separator ? passed_on : own).push_back(w);
    }
  }
}

}  // namespace trafficfm::launch

// Options every subcommand shares ([log] section) and the glue that applies them.
#pragma once
#include "core/options.h"

namespace trafficfm::launch {

void add_logging_options(core::po::options_description& options);
// Configures logging from [log] and the launcher's rank (mpirun/srun/torchrun environment).
void apply_logging_options(const core::po::variables_map& values);

// Prints `options` as the subcommand's help, with a usage line first.
void print_help(const char* usage, const core::po::options_description& options);

// The running trafficfm executable (/proc/self/exe), for commands that start more of it.
std::string this_executable();

// Words before the first `--` go to `own`, the words after it (options for another command) to
// `passed_on`.
void split_at_separator(const std::vector<std::string>& words, std::vector<std::string>& own,
                        std::vector<std::string>& passed_on);

}  // namespace trafficfm::launch

// Options every subcommand shares ([log] section) and the glue that applies them.
#pragma once
#include "core/options.h"

namespace trafficfm::launch {

void add_logging_options(core::po::options_description& options);
// Configures logging from [log] and the launcher's rank (mpirun/srun/torchrun environment).
void apply_logging_options(const core::po::variables_map& values);

// Prints `options` as the subcommand's help, with a usage line first.
void print_help(const char* usage, const core::po::options_description& options);

}  // namespace trafficfm::launch

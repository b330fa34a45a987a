// The subcommands that live in libtrafficfm_torch.so (launch/torch_module.h says why). The
// executable calls trafficfm_torch_run(name, argc, argv); each returns its exit code.
#pragma once
#include <string>
#include <vector>

#include "core/options.h"

namespace trafficfm::launch {

int run_pretrain(const std::vector<std::string>& args);
// Every option `trafficfm pretrain` takes (its config keys too).
core::po::options_description pretrain_options();
// trafficfm sweep plan | run | fit | predict (launch/torch/sweep_command.cpp).
int run_sweep(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_finetune(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
// `finetune --finetune.task generate` (launch/torch/generation_finetune.cpp).
int run_generation_finetune(const core::po::variables_map& values,
                            const core::po::options_description& options);

}  // namespace trafficfm::launch

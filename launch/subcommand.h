// A `trafficfm <name>` subcommand. Each lives in its own file and registers itself in
// subcommands.cpp; a subcommand is listed only once it really works.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::launch {

struct Subcommand {
  const char* name;
  const char* summary;                               // one line for `trafficfm --help`
  int (*run)(const std::vector<std::string>& args);  // args after the name; returns exit code
};

const std::vector<Subcommand>& subcommands();

// Prints version, build and runtime information (`trafficfm --version`).
int print_version();

int run_synth(const std::vector<std::string>& args);
int run_prep(const std::vector<std::string>& args);
int run_inspect(const std::vector<std::string>& args);
int run_submit(const std::vector<std::string>& args);
// In libtrafficfm_torch.so (launch/torch/): forwarded by name.
int run_pretrain_command(const std::vector<std::string>& args);
int run_export_command(const std::vector<std::string>& args);
int run_finetune_command(const std::vector<std::string>& args);
int run_eval_command(const std::vector<std::string>& args);
int run_generate_command(const std::vector<std::string>& args);
int run_sweep_command(const std::vector<std::string>& args);

}  // namespace trafficfm::launch

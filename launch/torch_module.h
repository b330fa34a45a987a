// LibTorch is loaded on demand, not linked into the `trafficfm` executable: its static
// operator registration costs ~0.6 s at every process start, which `synth`, `prep` and
// `inspect` (and every rank of a parallel prep) would pay for nothing. Subcommands that need
// torch live in the module `libtrafficfm_torch.so`, beside the executable, opened with dlopen.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::launch {

// Opens the module once (thread-safe); returns its handle, or nullptr with `error` set.
void* torch_module(std::string* error);

// A symbol of the module, or nullptr with `error` set.
void* torch_module_symbol(const char* name, std::string* error);

// Runs a subcommand that lives in the module (`trafficfm_torch_run`); a module that cannot be
// loaded is exit 1 with the loader's error.
int run_torch_subcommand(const char* name, const std::vector<std::string>& args);

}  // namespace trafficfm::launch

// Tensors as torch.save writes them: a pickled dict name -> tensor in PyTorch's zip container,
// which Python's torch.load opens (checkpoint parts, exported models).
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/atomic_file.h"

namespace trafficfm::core {

// A pickled dict name -> tensor (the format torch.save writes and torch.load reads).
// torch.save's zip format, streamed to `sink`; pickle_tensors collects it in memory.
void pickle_tensors_to(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const ByteSink& sink);
std::vector<char> pickle_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
std::vector<std::pair<std::string, torch::Tensor>> unpickle_tensors(const std::string& bytes,
                                                                    const std::string& what);

}  // namespace trafficfm::core

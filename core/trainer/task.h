// What the trainer drives: a model, an objective turning a batch into named loss terms, and
// the model's FLOPs per sample (for MFU). Lens, MMAE and the graph model are Tasks; the
// trainer never branches on which.
#pragma once
#include <map>
#include <string>

#include <torch/torch.h>

#include "datasets/loader/loader.h"

namespace trafficfm::core {

class Task {
 public:
  virtual ~Task() = default;
  virtual torch::nn::Module& model() = 0;
  // Named loss terms for one micro-batch; "loss" is the one that is optimized.
  virtual std::map<std::string, torch::Tensor> losses(const datasets::Batch& batch) = 0;
  virtual double flops_per_sample() const { return 0.0; }
};

}  // namespace trafficfm::core

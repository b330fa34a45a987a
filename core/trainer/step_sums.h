// What a step logs: each loss term's mean over the global batch (every micro-batch of every dp
// rank), with the FLOPs, tokens and samples it covered. Terms are weighted per micro-batch, by
// the micro-batch's weight (Task::losses) or, for a task that counts each term's examples
// (Task::loss_terms), by that term's counts. The sums stay on the device until reduce(), which
// reads them to the host once and sums them over dp in one all-reduce.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

#include "datasets/loader/loader.h"
#include "distributed/communicator.h"

namespace trafficfm::core {

// A micro-batch's weight in the step's average, a float64 scalar on the loss's device: the
// task's "weight" term, taken out of the losses, or its rows; 0 for a filler batch (a rank that
// had no rows). Not read to the host.
torch::Tensor take_weight(const datasets::Batch& batch, std::map<std::string, torch::Tensor>& losses);

// The counted term that weighs a logged term: `name` itself or the longest counted t with
// `name` = t_<anything> (msp_accuracy -> msp); "" when none does.
std::string counted_term(const std::string& name, const std::map<std::string, double>& counts);

class StepSums {
 public:
  std::map<std::string, double> terms;  // after reduce(): the means
  double weight = 0, flops = 0, tokens = 0, samples = 0;
  // One micro-batch. `weight`: its weight (a float64 scalar tensor). `counts`: each counted
  // term's examples in it (empty: every term is weighted by `weight`); then "loss" is not
  // summed but set by reduce() from the coefficients.
  void add(const std::map<std::string, torch::Tensor>& losses, const torch::Tensor& weight,
           const std::map<std::string, double>& counts = {});
  // Every rank must have added every name, even one whose batches had no rows.
  // `coefficients`: Task::loss_terms(); when given, "loss" = sum of coefficient * term mean,
  // and a term none of whose examples the step held is left out of `terms`.
  void reduce(distributed::Communicator& dp, const std::map<std::string, double>& coefficients = {});

 private:
  torch::Tensor weight_sum_;
  std::map<std::string, torch::Tensor> term_sums_, term_weights_;
};

}  // namespace trafficfm::core

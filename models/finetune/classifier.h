// What a model offers the fine-tuning stage: a backbone with a classification head, whose
// parameters it can place in layers (for layer-wise learning-rate decay), load from a
// pretraining checkpoint, and freeze in part. MMAE and Lens classify samples; the graph model
// classifies flow nodes of its graphs (its rows are nodes, named by label_unit()).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>

#include "datasets/loader/loader.h"
#include "distributed/communicator.h"

namespace trafficfm::models {

// A labelled unit: a sample, or one node of a sample (a graph's flow node), as one id.
inline std::uint64_t label_unit(std::uint64_t sample, std::uint64_t node) { return (sample << 32) | node; }

// What a classifier says about a batch: one row per classified unit.
struct ClassifierOutput {
  torch::Tensor logits;  // [N, classes]
  torch::Tensor labels;  // [N] long: corpus labels (-1: none)
  torch::Tensor units;   // [N] long (CPU): label_unit() of each row (sample: node 0)
};

// The units of a sample-level classifier's rows: each row's sample, node 0.
torch::Tensor sample_units(const datasets::Batch& batch);

class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual torch::nn::Module& module() = 0;
  // Logits, corpus labels and units of a batch's classified units (a sample-level model: one
  // row per sample). In training mode with the run's regularization (drop-path); in eval mode
  // without.
  virtual ClassifierOutput forward(const datasets::Batch& batch) = 0;
  // Layer of a parameter: 0 = embeddings, 1..layers() = blocks, layers() + 1 = head.
  virtual int layer_of(const std::string& name) const = 0;
  virtual int layers() const = 0;
  virtual bool no_weight_decay(const std::string& name) const = 0;
  // Copies the backbone's tensors from a pretraining checkpoint's model.pt (whole tensors, the
  // names pretraining used); each rank takes its tp slice. Returns how many were loaded;
  // throws naming a missing tensor or a shape that does not match.
  virtual std::size_t load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                                      distributed::Communicator& tp) = 0;
  // none | embed (patch and position embeddings, cls token) | encoder (all but the head: a
  // linear probe).
  virtual void freeze(const std::string& what) = 0;
  virtual double flops_per_sample() const { return 0.0; }
  // Lookup tables, as Task::embedding_parameter.
  virtual bool embedding_parameter(const std::string& /*name*/) const { return false; }
  virtual std::string config_json() const = 0;  // the backbone's config
};

}  // namespace trafficfm::models

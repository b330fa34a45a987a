// What a model offers the fine-tuning stage: a backbone with a classification head, whose
// parameters it can place in layers (for layer-wise learning-rate decay), load from a
// pretraining checkpoint, and freeze in part. MMAE and Lens implement it; the graph model does not yet
// (its registry entry has no classifier, and finetune/eval refuse it).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>

#include "datasets/loader/loader.h"
#include "distributed/communicator.h"

namespace trafficfm::models {

class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual torch::nn::Module& module() = 0;
  // Logits [B, classes] and the corpus labels [B] (long; -1: none) of a batch. In training mode
  // with the run's regularization (drop-path); in eval mode without.
  virtual std::pair<torch::Tensor, torch::Tensor> forward(const datasets::Batch& batch) = 0;
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
  virtual std::string config_json() const = 0;  // the backbone's config
};

}  // namespace trafficfm::models

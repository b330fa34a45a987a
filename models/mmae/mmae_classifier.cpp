#include "models/mmae/mmae_classifier.h"

#include <stdexcept>

#include "core/errors.h"
#include "distributed/tensor_parallel_state.h"
#include "models/common/sample_random.h"
#include "models/mmae/mmae_inputs.h"
#include "models/mmae/mmae_model.h"

namespace trafficfm::models {

namespace {
constexpr std::uint64_t kDropPathStream = 200;  // apart from pretraining's streams
}

MmaeClassifierNet::MmaeClassifierNet(const MmaeConfig& config, std::int64_t classes,
                                     distributed::Communicator& tp) {
  encoder = register_module("encoder", std::make_shared<MmaeEncoder>(config, tp));
  head = register_module("head", torch::nn::Linear(config.dim, classes));
  torch::NoGradGuard no_grad;
  head->weight.normal_(0, 0.01);  // small: the pretrained features are not disturbed at first
  head->bias.zero_();
}

MmaeClassifier::MmaeClassifier(const MmaeConfig& config, std::int64_t classes, distributed::Communicator& tp,
                               std::uint64_t seed, torch::Device device)
    : config_(config), seed_(seed), device_(device), token_packet_(token_packet_index(config.patch)) {
  torch::manual_seed(seed);  // the head's (and a from-scratch encoder's) initialization
  net_ = std::make_shared<MmaeClassifierNet>(config_, classes, tp);
  net_->to(device_);
}

ClassifierOutput MmaeClassifier::forward(const datasets::Batch& batch) {
  const MmaeInputs in = mmae_inputs(batch, token_packet_, seed_, device_);
  const auto keep = net_->is_training() ? block_drop_path_scales(in.keys, config_.depth, config_.drop_path,
                                                                 kDropPathStream, device_)
                                        : std::vector<torch::Tensor>{};
  const auto features = net_->encoder->forward(net_->encoder->embed(in.payload), keep);
  return {net_->head->forward(features.select(1, 0)), in.labels, sample_units(batch)};
}

int MmaeClassifier::layer_of(const std::string& name) const {
  const std::string blocks = "encoder.blocks.";
  if (name.compare(0, blocks.size(), blocks) == 0) return 1 + std::stoi(name.substr(blocks.size()));
  if (name.compare(0, 13, "encoder.patch") == 0 || name == "encoder.cls_token" || name == "encoder.pos_embed")
    return 0;
  return layers() + 1;  // encoder.norm and the head
}

bool MmaeClassifier::no_weight_decay(const std::string& name) const {
  return name == "encoder.cls_token" || name == "encoder.pos_embed";
}

std::size_t MmaeClassifier::load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                                            distributed::Communicator& tp) {
  torch::NoGradGuard no_grad;
  std::size_t loaded = 0;
  for (const auto& t : distributed::sharded_tensors(*net_->encoder, "encoder.")) {
    const auto it = tensors.find(t.name);
    if (it == tensors.end()) {
      throw std::runtime_error("pretrained checkpoint has no tensor '" + t.name +
                               "' (not an MMAE checkpoint?)");
    }
    if (!distributed::copy_local_shard(t, it->second, tp)) {
      throw core::UsageError("pretrained '" + t.name + "' has shape " + c10::str(it->second.sizes()) +
                             ", this config's encoder expects " + c10::str(t.tensor.sizes()) +
                             " on this rank: fine-tune with the pretraining run's [mmae] settings");
    }
    ++loaded;
  }
  return loaded;
}

void MmaeClassifier::freeze(const std::string& what) {
  if (what == "none") return;
  if (what != "embed" && what != "encoder") {
    throw core::UsageError("--finetune.freeze must be none, embed or encoder, not '" + what + "'");
  }
  for (auto& p : net_->named_parameters()) {
    const bool frozen = what == "encoder" ? p.key().compare(0, 8, "encoder.") == 0 : layer_of(p.key()) == 0;
    if (frozen) p.value().set_requires_grad(false);
  }
}

double MmaeClassifier::flops_per_sample() const {
  // Forward + backward (PassFlops): the encoder's blocks and the head 3x their forward, the patch
  // embedding of the raw bytes 2x (no input gradient).
  PassFlops f;
  f.fixed_input = 2.0 * MmaeConfig::kBytes * static_cast<double>(config_.dim);
  f.trained = static_cast<double>(config_.depth) *
                  vit_block_flops(config_.dim, config_.mlp_dim(), MmaeConfig::kTokens + 1) +
              2.0 * static_cast<double>(net_->head->weight.numel());
  return f.training();
}

}  // namespace trafficfm::models

#include "models/lens/lens_classifier.h"

#include <stdexcept>

#include "core/errors.h"
#include "datasets/encoders/lens_vocabulary.h"
#include "distributed/tensor_parallel_state.h"

namespace trafficfm::models {

namespace vocab = datasets::lens_vocab;

namespace {
bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
// The decoder's and LM head's tensors: trained in pretraining, unused by the encoder head.
bool decoder_side(const std::string& name) {
  return starts_with(name, "decoder.") || starts_with(name, "lm_head.");
}
}  // namespace

LensClassifierNet::LensClassifierNet(const LensSettings& settings, std::int64_t classes,
                                     distributed::Communicator& tp)
    : LensModel(settings.model, tp) {
  head = register_module("head", torch::nn::Linear(config.d_model, classes));
  torch::NoGradGuard no_grad;
  head->weight.normal_(0, 0.01);  // small: the pretrained features are not disturbed at first
  head->bias.zero_();
}

LensClassifier::LensClassifier(const LensSettings& settings, std::int64_t classes,
                               distributed::Communicator& tp, std::uint64_t seed, torch::Device device)
    : settings_(settings), seed_(seed), device_(device) {
  torch::manual_seed(seed);  // the head's (and a from-scratch model's) initialization
  net_ = std::make_shared<LensClassifierNet>(settings_, classes, tp);
  // The encoder head never runs the decoder: its parameters take no part in training.
  if (!uses_decoder()) {
    for (auto& p : net_->named_parameters()) {
      if (decoder_side(p.key())) p.value().set_requires_grad(false);
    }
  }
  net_->to(device_);
}

ClassifierOutput LensClassifier::forward(const datasets::Batch& batch) {
  const auto n = static_cast<std::int64_t>(batch.rows);
  std::int64_t width = 0;
  for (const auto& spec : batch.specs) {
    if (spec.name == "tokens") width = static_cast<std::int64_t>(spec.values_per_sample());
  }
  if (width == 0) throw std::invalid_argument("lens: the batch has no 'tokens' column (not a lens corpus?)");
  width_ = width;
  auto from = [&](const char* column, torch::Dtype type) {
    return torch::from_blob(const_cast<void*>(static_cast<const void*>(batch.column<std::uint8_t>(column))),
                            {n, width}, type)
        .to(torch::kLong);
  };
  LensInputs in;
  in.tokens = from("tokens", torch::kInt32);
  in.segment = from("segment", torch::kInt8);
  in.packet = from("packet_index", torch::kInt8);
  // Trailing columns that are padding in every row are not computed.
  const auto used = (in.tokens != vocab::kPad).any(0).nonzero();
  const std::int64_t length = used.numel() > 0 ? used.max().item<std::int64_t>() + 1 : 1;
  in.tokens = in.tokens.narrow(1, 0, length).to(device_);
  in.segment = in.segment.narrow(1, 0, length).to(device_);
  in.packet = in.packet.narrow(1, 0, length).to(device_);
  in.padding = in.tokens == vocab::kPad;
  auto labels =
      torch::from_blob(const_cast<std::int32_t*>(batch.column<std::int32_t>("label")), {n}, torch::kInt32)
          .to(torch::kLong)
          .to(device_);
  net_->dropout->start(seed_, batch.epoch, batch.sample_index);
  const auto memory = net_->encode(in);
  torch::Tensor features;
  if (uses_decoder()) {
    const auto start = torch::full({n, 1}, vocab::kPad, torch::TensorOptions(torch::kLong).device(device_));
    features = net_->decoder->forward(net_->shared->forward(start), {}, memory, in.padding).select(1, 0);
  } else {
    const auto keep = (~in.padding).to(memory.scalar_type()).unsqueeze(-1);
    features = (memory * keep).sum(1) / keep.sum(1).clamp_min(1.0);
  }
  return {net_->head->forward(features), labels, sample_units(batch)};
}

int LensClassifier::layers() const {
  return static_cast<int>(settings_.model.encoder_layers +
                          (uses_decoder() ? settings_.model.decoder_layers : 0));
}

int LensClassifier::layer_of(const std::string& name) const {
  const std::string encoder = "encoder.block.", decoder = "decoder.block.";
  if (starts_with(name, encoder)) return 1 + std::stoi(name.substr(encoder.size()));
  if (starts_with(name, decoder))
    return 1 + static_cast<int>(settings_.model.encoder_layers) + std::stoi(name.substr(decoder.size()));
  if (starts_with(name, "shared.") || starts_with(name, "segment_embed") || starts_with(name, "packet_embed"))
    return 0;
  if (starts_with(name, "encoder.final_layer_norm")) return static_cast<int>(settings_.model.encoder_layers);
  return layers() + 1;  // the decoder's final norm and the head
}

bool LensClassifier::no_weight_decay(const std::string& name) const { return lens_no_weight_decay(name); }

std::size_t LensClassifier::load_pretrained(const std::map<std::string, torch::Tensor>& tensors,
                                            distributed::Communicator& tp) {
  torch::NoGradGuard no_grad;
  std::size_t loaded = 0;
  for (const auto& t : distributed::sharded_tensors(*net_)) {
    if (starts_with(t.name, "head.")) continue;
    const auto it = tensors.find(t.name);
    if (it == tensors.end()) {
      if (decoder_side(t.name) && !uses_decoder()) continue;  // an encoder-only checkpoint is enough
      throw std::runtime_error("pretrained checkpoint has no tensor '" + t.name +
                               "' (not a Lens checkpoint?)");
    }
    if (!distributed::copy_local_shard(t, it->second, tp)) {
      throw core::UsageError("pretrained '" + t.name + "' has shape " + c10::str(it->second.sizes()) +
                             ", this config's model expects " + c10::str(t.tensor.sizes()) +
                             " on this rank: fine-tune with the pretraining run's [lens] settings");
    }
    ++loaded;
  }
  return loaded;
}

void LensClassifier::freeze(const std::string& what) {
  if (what == "none") return;
  if (what != "embed" && what != "encoder") {
    throw core::UsageError("--finetune.freeze must be none, embed or encoder, not '" + what + "'");
  }
  for (auto& p : net_->named_parameters()) {
    const bool frozen = what == "encoder" ? !starts_with(p.key(), "head.") : layer_of(p.key()) == 0;
    if (frozen) p.value().set_requires_grad(false);
  }
}

double LensClassifier::flops_per_sample() const {
  const std::int64_t length = width_ > 0 ? width_ : 512;
  // The encoder (and with the decoder head, one decoder position), forward + backward.
  LensConfig c = settings_.model;
  if (!uses_decoder()) c.decoder_layers = 0;
  return 3.0 * lens_forward_flops(c, length, uses_decoder() ? 1 : 0, false);
}

}  // namespace trafficfm::models

#include "models/lens/lens_hf.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/trainer/safetensors.h"
#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

namespace fs = std::filesystem;

namespace {
bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

LensConfig lens_config_from_json(const core::JsonValue& m) {
  if (!m.has("model") || m["model"].as_string() != "lens")
    throw core::UsageError("not a Lens checkpoint (its model is " +
                           (m.has("model") ? m["model"].dump() : "unknown") + ")");
  LensConfig c;
  c.vocab = m["vocab"].as_int();
  c.d_model = m["d_model"].as_int();
  c.d_kv = m["d_kv"].as_int();
  c.d_ff = m["d_ff"].as_int();
  c.heads = m["heads"].as_int();
  c.encoder_layers = m["encoder_layers"].as_int();
  c.decoder_layers = m["decoder_layers"].as_int();
  c.buckets = m["buckets"].as_int();
  c.max_distance = m["max_distance"].as_int();
  c.segment_embedding = m["segment_embedding"].as_bool();
  c.packet_embedding = m["packet_embedding"].as_bool();
  c.max_packets = m["max_packets"].as_int();
  c.tie_embeddings = m["tie_embeddings"].as_bool();
  if (m.has("dropout")) c.dropout = m["dropout"].as_number();
  return c;
}

std::string t5_config_json(const LensConfig& c) {
  return core::JsonObject()
      .set_raw("architectures", "[\"T5ForConditionalGeneration\"]")
      .set("model_type", "t5")
      .set("is_encoder_decoder", true)
      .set("d_model", c.d_model)
      .set("d_kv", c.d_kv)
      .set("d_ff", c.d_ff)
      .set("num_layers", c.encoder_layers)
      .set("num_decoder_layers", c.decoder_layers)
      .set("num_heads", c.heads)
      .set("relative_attention_num_buckets", c.buckets)
      .set("relative_attention_max_distance", c.max_distance)
      .set("feed_forward_proj", "gated-gelu")
      .set("vocab_size", c.vocab)
      .set("tie_word_embeddings", c.tie_embeddings)
      .set("pad_token_id", static_cast<std::int64_t>(datasets::lens_vocab::kPad))
      .set("eos_token_id", static_cast<std::int64_t>(datasets::lens_vocab::kEos))
      .set("decoder_start_token_id", static_cast<std::int64_t>(datasets::lens_vocab::kPad))
      .set("dropout_rate", c.dropout)
      .set("layer_norm_epsilon", 1e-6)
      .set("initializer_factor", 1.0)
      .set("use_cache", true)
      .str();
}

std::size_t write_hf_t5(const std::string& dir,
                        const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                        const LensConfig& config, bool keep_extra) {
  if ((config.segment_embedding || config.packet_embedding) && !keep_extra) {
    throw core::UsageError(
        "this Lens has segment/packet embeddings, which Hugging Face's T5 cannot represent: train with "
        "--lens.segment-embedding off --lens.packet-embedding off, or export with --hf-extra-embeddings keep "
        "(written as extra tensors that HF ignores, so HF's model then differs from Lens's)");
  }
  std::vector<std::pair<std::string, torch::Tensor>> kept;
  for (const auto& [name, tensor] : tensors) {
    if (starts_with(name, "pop_head.") || starts_with(name, "htp_head.")) continue;  // pretraining heads
    if (name.find('.') == std::string::npos || starts_with(name, "teacher.")) continue;
    // Untied: the LM head; tied: HF reuses shared.weight. Extra embeddings only when kept.
    kept.emplace_back(name, tensor.to(torch::kFloat));
  }
  fs::create_directories(dir);
  core::write_safetensors(dir + "/model.safetensors", kept, {{"format", "pt"}});
  core::write_file_atomically(dir + "/config.json", t5_config_json(config) + "\n");
  return kept.size();
}

bool is_hf_directory(const std::string& dir) {
  return fs::exists(dir + "/config.json") && fs::exists(dir + "/model.safetensors");
}

std::map<std::string, torch::Tensor> read_hf_t5(const std::string& dir, LensConfig* config) {
  const auto json = core::JsonValue::parse(read_text(dir + "/config.json"));
  if (!json.has("model_type") || json["model_type"].as_string() != "t5")
    throw core::UsageError(dir + "/config.json is not a T5 config (model_type " +
                           (json.has("model_type") ? json["model_type"].dump() : "missing") + ")");
  if (json.has("feed_forward_proj") && json["feed_forward_proj"].as_string() != "gated-gelu")
    throw core::UsageError(dir + "/config.json: feed_forward_proj " + json["feed_forward_proj"].dump() +
                           "; Lens is T5 v1.1 (gated-gelu)");
  if (config) {
    LensConfig& c = *config;
    c.vocab = json["vocab_size"].as_int();
    c.d_model = json["d_model"].as_int();
    c.d_kv = json["d_kv"].as_int();
    c.d_ff = json["d_ff"].as_int();
    c.heads = json["num_heads"].as_int();
    c.encoder_layers = json["num_layers"].as_int();
    c.decoder_layers =
        json.has("num_decoder_layers") ? json["num_decoder_layers"].as_int() : json["num_layers"].as_int();
    c.buckets = json["relative_attention_num_buckets"].as_int();
    c.max_distance =
        json.has("relative_attention_max_distance") ? json["relative_attention_max_distance"].as_int() : 128;
    c.tie_embeddings = json.has("tie_word_embeddings") ? json["tie_word_embeddings"].as_bool() : true;
    if (json.has("dropout_rate")) c.dropout = json["dropout_rate"].as_number();
  }
  std::map<std::string, torch::Tensor> out;
  bool segments = false, packets = false;
  for (auto& [name, tensor] : core::read_safetensors(dir + "/model.safetensors").tensors) {
    segments = segments || starts_with(name, "segment_embed");
    packets = packets || starts_with(name, "packet_embed");
    out[name] = tensor.to(torch::kFloat);
  }
  if (config) {
    config->segment_embedding = segments;  // kept extra tensors (--hf-extra-embeddings keep)
    config->packet_embedding = packets;
  }
  return out;
}

}  // namespace trafficfm::models

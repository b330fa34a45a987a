#include "models/lens/lens_config.h"

#include "core/errors.h"
#include "core/json.h"
#include "datasets/encoders/lens_vocabulary.h"

namespace trafficfm::models {

namespace po = core::po;

void add_lens_options(po::options_description& options) {
  po::options_description lens("Lens model [lens]");
  // clang-format off
  lens.add_options()
      ("lens.d-model", po::value<std::int64_t>()->default_value(768), "model width")
      ("lens.d-kv", po::value<std::int64_t>()->default_value(64), "width of one attention head")
      ("lens.d-ff", po::value<std::int64_t>()->default_value(2048), "gated-GELU FFN width")
      ("lens.heads", po::value<std::int64_t>()->default_value(12), "attention heads (divisible by tp)")
      ("lens.encoder-layers", po::value<std::int64_t>()->default_value(12), "encoder blocks")
      ("lens.decoder-layers", po::value<std::int64_t>()->default_value(12), "decoder blocks")
      ("lens.buckets", po::value<std::int64_t>()->default_value(32), "relative position buckets")
      ("lens.max-distance", po::value<std::int64_t>()->default_value(128), "relative distance of the last bucket")
      ("lens.segment-embedding", po::value<std::string>()->default_value("on"), "on | off: header/payload segment embedding")
      ("lens.packet-embedding", po::value<std::string>()->default_value("on"), "on | off: packet index embedding (both off: exactly T5 v1.1)")
      ("lens.max-packets", po::value<std::int64_t>()->default_value(16), "rows of the packet index embedding")
      ("lens.tie-embeddings", po::value<std::string>()->default_value("off"), "on | off: LM head tied to the token embedding (T5 v1.0, output scaled by d_model^-0.5)")
      ("lens.dropout", po::value<double>()->default_value(0.0), "dropout rate where T5 puts it, training only (T5 v1.1 pretrains with 0; fine-tuning usually 0.1)")
      ("lens.msp", po::value<std::string>()->default_value("on"), "on | off: masked span prediction")
      ("lens.pop", po::value<std::string>()->default_value("on"), "on | off: packet order prediction")
      ("lens.htp", po::value<std::string>()->default_value("on"), "on | off: header-tail pairing")
      ("lens.noise-density", po::value<double>()->default_value(0.15), "MSP: share of the maskable tokens hidden")
      ("lens.mean-span", po::value<double>()->default_value(3.0), "MSP: mean length of a hidden span")
      ("lens.pop-share", po::value<double>()->default_value(0.15), "POP: share of samples with their first 3 packets reordered")
      ("lens.htp-share", po::value<double>()->default_value(0.30), "HTP: share of the other samples cut into a pair")
      ("lens.pop-weight", po::value<double>()->default_value(0.2), "weight of the POP loss")
      ("lens.htp-weight", po::value<double>()->default_value(0.2), "weight of the HTP loss")
      ("lens.head", po::value<std::string>()->default_value("encoder"), "fine-tuning head: encoder (mean-pooled states) | decoder (first decoder state)");
  // clang-format on
  options.add(lens);
}

namespace {
void require(bool ok, const std::string& message) {
  if (!ok) throw core::UsageError(message);
}
}  // namespace

bool lens_embedding_parameter(const std::string& name) {
  for (const char* part : {"shared.", "segment_embed", "packet_embed", "relative_attention_bias"}) {
    if (name.find(part) != std::string::npos) return true;
  }
  return false;
}

bool lens_no_weight_decay(const std::string& name) { return lens_embedding_parameter(name); }

LensSettings lens_settings_from(const po::variables_map& values) {
  LensSettings s;
  LensConfig& c = s.model;
  c.vocab = datasets::lens_vocab::kSize;
  c.d_model = values["lens.d-model"].as<std::int64_t>();
  c.d_kv = values["lens.d-kv"].as<std::int64_t>();
  c.d_ff = values["lens.d-ff"].as<std::int64_t>();
  c.heads = values["lens.heads"].as<std::int64_t>();
  c.encoder_layers = values["lens.encoder-layers"].as<std::int64_t>();
  c.decoder_layers = values["lens.decoder-layers"].as<std::int64_t>();
  c.buckets = values["lens.buckets"].as<std::int64_t>();
  c.max_distance = values["lens.max-distance"].as<std::int64_t>();
  c.segment_embedding = core::on_off_option(values, "lens.segment-embedding");
  c.packet_embedding = core::on_off_option(values, "lens.packet-embedding");
  c.max_packets = values["lens.max-packets"].as<std::int64_t>();
  c.tie_embeddings = core::on_off_option(values, "lens.tie-embeddings");
  c.dropout = values["lens.dropout"].as<double>();
  if (c.dropout < 0 || c.dropout >= 1)
    throw core::UsageError("--lens.dropout must be in [0, 1), not " + std::to_string(c.dropout));
  LensObjective& o = s.objective;
  o.msp = core::on_off_option(values, "lens.msp");
  o.pop = core::on_off_option(values, "lens.pop");
  o.htp = core::on_off_option(values, "lens.htp");
  o.spans.noise_density = values["lens.noise-density"].as<double>();
  o.spans.mean_span_length = values["lens.mean-span"].as<double>();
  o.pop_share = values["lens.pop-share"].as<double>();
  o.htp_share = values["lens.htp-share"].as<double>();
  o.pop_weight = values["lens.pop-weight"].as<double>();
  o.htp_weight = values["lens.htp-weight"].as<double>();
  s.head = values["lens.head"].as<std::string>();
  require(c.d_model > 0 && c.d_kv > 0 && c.d_ff > 0 && c.heads > 0, "--lens sizes must be positive");
  require(c.encoder_layers > 0 && c.decoder_layers > 0,
          "--lens.encoder-layers and decoder-layers must be > 0");
  require(c.buckets >= 2 && c.max_distance > c.buckets / 2,
          "--lens.max-distance must exceed half the buckets");
  require(o.msp || o.pop || o.htp, "--lens.msp, pop and htp are all off: nothing to train");
  require(o.spans.noise_density > 0 && o.spans.noise_density < 1, "--lens.noise-density must lie in (0, 1)");
  require(o.spans.mean_span_length >= 1, "--lens.mean-span must be >= 1");
  require(o.pop_share >= 0 && o.pop_share <= 1 && o.htp_share >= 0 && o.htp_share <= 1,
          "--lens.pop-share and htp-share must lie in [0, 1]");
  require(s.head == "encoder" || s.head == "decoder",
          "--lens.head must be encoder or decoder, not '" + s.head + "'");
  return s;
}

std::string LensSettings::to_json() const {
  const LensConfig& c = model;
  return core::JsonObject()
      .set("model", "lens")
      .set("architecture", "t5-v1.1")
      .set("vocab", c.vocab)
      .set("d_model", c.d_model)
      .set("d_kv", c.d_kv)
      .set("d_ff", c.d_ff)
      .set("heads", c.heads)
      .set("encoder_layers", c.encoder_layers)
      .set("decoder_layers", c.decoder_layers)
      .set("buckets", c.buckets)
      .set("max_distance", c.max_distance)
      .set("segment_embedding", c.segment_embedding)
      .set("packet_embedding", c.packet_embedding)
      .set("max_packets", c.max_packets)
      .set("tie_embeddings", c.tie_embeddings)
      .set("dropout", c.dropout)
      .set("msp", objective.msp)
      .set("pop", objective.pop)
      .set("htp", objective.htp)
      .set("noise_density", objective.spans.noise_density)
      .set("mean_span", objective.spans.mean_span_length)
      .set("pop_share", objective.pop_share)
      .set("htp_share", objective.htp_share)
      .set("pop_weight", objective.pop_weight)
      .set("htp_weight", objective.htp_weight)
      .set("head", head)
      .str();
}

}  // namespace trafficfm::models

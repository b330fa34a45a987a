#include "models/mmae/mmae_config.h"

#include "core/errors.h"
#include "core/json.h"

namespace trafficfm::models {

namespace po = core::po;

void add_mmae_options(po::options_description& options) {
  po::options_description mmae("MMAE model [mmae]");
  mmae.add_options()("mmae.dim", po::value<std::int64_t>()->default_value(256), "encoder width")(
      "mmae.depth", po::value<std::int64_t>()->default_value(7), "encoder blocks")(
      "mmae.heads", po::value<std::int64_t>()->default_value(8), "encoder attention heads (divisible by tp)")(
      "mmae.mlp-ratio", po::value<double>()->default_value(4.0), "MLP width / model width")(
      "mmae.drop-path", po::value<double>()->default_value(0.2),
      "stochastic depth of the last block (linear from 0)")(
      "mmae.decoder-dim", po::value<std::int64_t>()->default_value(128), "decoder width")(
      "mmae.decoder-depth", po::value<std::int64_t>()->default_value(2), "decoder blocks")(
      "mmae.decoder-heads", po::value<std::int64_t>()->default_value(8), "decoder attention heads")(
      "mmae.mask-ratio", po::value<double>()->default_value(0.9), "share of the 400 tokens masked")(
      "mmae.patch", po::value<std::string>()->default_value("1d"),
      "1d (Conv1d k4 s4, MMAE) | 2d (2x2 over 40x40, YaTC)")("mmae.flowmix",
                                                             po::value<std::string>()->default_value("on"),
                                                             "on | off: cross-flow mixing of masked tokens")(
      "mmae.teacher", po::value<std::string>()->default_value("on"),
      "on | off: EMA teacher and distillation loss")(
      "mmae.pmp", po::value<std::string>()->default_value("on"),
      "on | off: packet-importance loss predictor and guided masks")(
      "mmae.ema-start", po::value<double>()->default_value(0.96), "teacher momentum at the start")(
      "mmae.ema-end", po::value<double>()->default_value(0.99), "teacher momentum at the end (cosine)")(
      "mmae.rank-weight", po::value<double>()->default_value(0.1), "weight of the ranking loss")(
      "mmae.hard-mask-start", po::value<double>()->default_value(0.1),
      "fraction of training before guided masks start")(
      "mmae.hard-mask-max", po::value<double>()->default_value(1.0),
      "share of masked tokens chosen hardest-first at the end")("mmae.rank-pairs",
                                                                po::value<std::int64_t>()->default_value(400),
                                                                "token pairs per flow in the ranking loss")(
      "mmae.stats-dim", po::value<std::int64_t>()->default_value(64), "FlowMix statistics embedding width")(
      "mmae.pmp-rank", po::value<std::int64_t>()->default_value(16), "rank of the PMP attention bias");
  options.add(mmae);
}

MmaeConfig mmae_config_from(const po::variables_map& values) {
  MmaeConfig c;
  c.dim = values["mmae.dim"].as<std::int64_t>();
  c.depth = values["mmae.depth"].as<std::int64_t>();
  c.heads = values["mmae.heads"].as<std::int64_t>();
  c.mlp_ratio = values["mmae.mlp-ratio"].as<double>();
  c.drop_path = values["mmae.drop-path"].as<double>();
  c.decoder_dim = values["mmae.decoder-dim"].as<std::int64_t>();
  c.decoder_depth = values["mmae.decoder-depth"].as<std::int64_t>();
  c.decoder_heads = values["mmae.decoder-heads"].as<std::int64_t>();
  c.mask_ratio = values["mmae.mask-ratio"].as<double>();
  c.patch = values["mmae.patch"].as<std::string>();
  c.flowmix = core::on_off_option(values, "mmae.flowmix");
  c.teacher = core::on_off_option(values, "mmae.teacher");
  c.pmp = core::on_off_option(values, "mmae.pmp");
  c.ema_start = values["mmae.ema-start"].as<double>();
  c.ema_end = values["mmae.ema-end"].as<double>();
  c.rank_weight = values["mmae.rank-weight"].as<double>();
  c.hard_mask_start = values["mmae.hard-mask-start"].as<double>();
  c.hard_mask_max = values["mmae.hard-mask-max"].as<double>();
  c.rank_pairs = values["mmae.rank-pairs"].as<std::int64_t>();
  c.stats_dim = values["mmae.stats-dim"].as<std::int64_t>();
  c.pmp_rank = values["mmae.pmp-rank"].as<std::int64_t>();
  if (c.patch != "1d" && c.patch != "2d")
    throw core::UsageError("--mmae.patch must be 1d or 2d, not '" + c.patch + "'");
  if (c.mask_ratio <= 0 || c.mask_ratio >= 1) throw core::UsageError("--mmae.mask-ratio must lie in (0, 1)");
  if (c.dim % c.heads != 0 || c.decoder_dim % c.decoder_heads != 0) {
    throw core::UsageError("--mmae.dim and --mmae.decoder-dim must be multiples of their heads");
  }
  return c;
}

std::string MmaeConfig::to_json() const {
  return core::JsonObject()
      .set("model", "mmae")
      .set("dim", dim)
      .set("depth", depth)
      .set("heads", heads)
      .set("mlp_ratio", mlp_ratio)
      .set("drop_path", drop_path)
      .set("decoder_dim", decoder_dim)
      .set("decoder_depth", decoder_depth)
      .set("decoder_heads", decoder_heads)
      .set("mask_ratio", mask_ratio)
      .set("patch", patch)
      .set("flowmix", flowmix)
      .set("teacher", teacher)
      .set("pmp", pmp)
      .set("ema_start", ema_start)
      .set("ema_end", ema_end)
      .set("rank_weight", rank_weight)
      .set("hard_mask_start", hard_mask_start)
      .set("hard_mask_max", hard_mask_max)
      .set("rank_pairs", rank_pairs)
      .set("stats_dim", stats_dim)
      .set("pmp_rank", pmp_rank)
      .set("tokens", kTokens)
      .set("patch_values", kPatch)
      .set("qkv_layout", "fused qkv rows ordered [heads, 3, head_dim]")
      .str();
}

bool mmae_embedding_parameter(const std::string& name) {
  const auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("pos_embed") || ends_with("_pos");
}

}  // namespace trafficfm::models

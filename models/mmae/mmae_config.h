// MMAE's configuration ([mmae] section): architecture, masking, and the switches of its three
// objectives. Defaults are the paper's sizes (configs/mmae-base.ini); configs/mmae-tiny.ini is
// the small model the demo and the tests train on 2 cores.
#pragma once
#include <cstdint>
#include <string>

#include "core/options.h"

namespace trafficfm::models {

struct MmaeConfig {
  std::int64_t dim = 256, depth = 7, heads = 8;
  double mlp_ratio = 4.0;
  double drop_path = 0.2;  // stochastic depth, linear from 0 at the first block to this
  std::int64_t decoder_dim = 128, decoder_depth = 2, decoder_heads = 8;
  double mask_ratio = 0.9;
  std::string patch = "1d";  // 1d: Conv1d k4 s4 over 1,600 bytes; 2d: 2x2 over the 40x40 matrix (YaTC)
  bool flowmix = true, teacher = true, pmp = true;
  double ema_start = 0.96, ema_end = 0.99;  // teacher momentum, cosine over training
  double rank_weight = 0.1;                 // weight of the PMP ranking loss
  double hard_mask_start = 0.1;             // fraction of training before PMP chooses masks
  double hard_mask_max = 1.0;               // share of masked tokens chosen hardest-first at the end
  std::int64_t rank_pairs = 400;            // token pairs per flow in the ranking loss
  std::int64_t stats_dim = 64;              // FlowMix statistics embedding (besides the 27 statistics)
  std::int64_t pmp_rank = 16;               // low-rank support/suppress bias

  static constexpr std::int64_t kTokens = 400, kPatch = 4, kBytes = 1600, kPackets = 5, kStatistics = 27;
  std::int64_t mlp_dim() const { return static_cast<std::int64_t>(dim * mlp_ratio); }
  std::int64_t decoder_mlp_dim() const { return static_cast<std::int64_t>(decoder_dim * mlp_ratio); }
  std::string to_json() const;
};

void add_mmae_options(core::po::options_description& options);
// Throws core::UsageError on a value out of range.
MmaeConfig mmae_config_from(const core::po::variables_map& values);
// MMAE's lookup tables: the learned positions of the encoder, decoder and packet signals.
bool mmae_embedding_parameter(const std::string& name);

}  // namespace trafficfm::models

// Lens's options ([lens] section): the T5 architecture (models/lens/lens_model.h) and the
// pretraining objective. Defaults are T5-v1.1-base with the paper's objective
// (configs/lens-base.ini); configs/lens-tiny.ini is the model the demo and the tests train.
#pragma once
#include <string>

#include "core/options.h"
#include "models/lens/lens_model.h"
#include "models/lens/span_corruption.h"

namespace trafficfm::models {

struct LensObjective {
  bool msp = true, pop = true, htp = true;  // each term can be switched off (ablations)
  SpanCorruptionOptions spans;              // MSP: noise density 0.15, mean span 3
  double pop_share = 0.15;                  // samples whose first 3 packets are reordered
  double htp_share = 0.30;                  // of the samples not used for POP
  double pop_weight = 0.2, htp_weight = 0.2;
};

struct LensSettings {
  LensConfig model;
  LensObjective objective;
  std::string head = "encoder";  // fine-tuning: encoder (mean-pooled states) | decoder (first state)
  std::string to_json() const;
};

// Lens's lookup tables: tokens (the tied LM head too), segments, packets, relative positions.
bool lens_embedding_parameter(const std::string& name);
// No weight decay on the embedding tables, as T5 and nanoT5 (which decay only the weights of
// linear layers).
bool lens_no_weight_decay(const std::string& name);

void add_lens_options(core::po::options_description& options);
// Throws core::UsageError on a value out of range.
LensSettings lens_settings_from(const core::po::variables_map& values);

}  // namespace trafficfm::models

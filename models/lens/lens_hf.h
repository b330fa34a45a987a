// Lens in Hugging Face's T5 layout: DIR/config.json (a T5Config) and DIR/model.safetensors with
// HF's tensor names and shapes, which T5ForConditionalGeneration.from_pretrained(DIR) loads.
// Lens's names are HF's already (models/lens/lens_model.h); the export drops the pretraining
// heads (pop_head, htp_head) and refuses the segment and packet embeddings, which HF's T5 has no
// place for, unless `keep_extra` writes them as extra tensors (HF ignores unexpected keys).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/json_value.h"
#include "models/lens/lens_model.h"

namespace trafficfm::models {

// The architecture from the "model" object a Lens checkpoint records (LensSettings::to_json).
LensConfig lens_config_from_json(const core::JsonValue& model);

// T5Config's fields for `config` (pad 0, eos 1, decoder start 0: the lens vocabulary).
std::string t5_config_json(const LensConfig& config);

// Writes DIR/config.json and DIR/model.safetensors from a checkpoint's whole tensors. Returns
// the number of tensors written. Throws core::UsageError naming what HF T5 cannot represent.
std::size_t write_hf_t5(const std::string& dir,
                        const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                        const LensConfig& config, bool keep_extra);

// True when DIR holds config.json and model.safetensors (an HF layout directory).
bool is_hf_directory(const std::string& dir);
// The tensors of an HF T5 directory (names as Lens's), and its architecture.
std::map<std::string, torch::Tensor> read_hf_t5(const std::string& dir, LensConfig* config = nullptr);

}  // namespace trafficfm::models

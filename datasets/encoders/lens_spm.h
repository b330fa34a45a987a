// `--lens.tokenizer spm`: a SentencePiece BPE vocabulary trained over the corpus's own hex
// text (the later Lens version's byte-level BPE), instead of the fixed bigram vocabulary.
// Ids are laid out like the bigram vocabulary's: 0 <pad>, 1 </s>, 2 <unk>, 3 <tsk>, 4 <head>,
// 5 <pkt>, 6..105 <extra_id_0..99>, then the learned pieces.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/encoders/subword_tokenizer.h"
#include "datasets/flow/flow.h"

namespace trafficfm::datasets {

struct SpmTrainOptions {
  int vocab_size = 8000;
  std::size_t sample_flows = 5000;  // flows read (files in order) to train on
  int packets = 5;
  std::size_t max_segment_bytes = 256;
  bool anonymize = true;
};

// The hex text of a flow's first packets: one sentence per header and per payload.
std::vector<std::string> lens_hex_segments(const Flow& flow, int packets, std::size_t max_segment_bytes,
                                           bool anonymize);

// Trains on the first flows of `files` and writes the model to `model_path` (atomically).
// Returns the number of flows used. Throws std::runtime_error when training fails.
std::size_t train_lens_spm(const std::vector<std::string>& files, const SpmTrainOptions& options,
                           const std::string& model_path);

}  // namespace trafficfm::datasets

// Builds small corpora for tests through the library (synth -> prep), single rank.
#pragma once
#include <string>

#include "datasets/prep/prep.h"

namespace trafficfm::testing {

struct CorpusSpec {
  std::uint64_t flows = 400;
  std::uint64_t seed = 3;
  std::string encoder = "mmae";
  double shard_mb = 0.05;  // small shards: several per split
  std::size_t chunk_rows = 32;
  bool anonymize = true;
  int max_tokens = 512;  // lens: tokens per sample
  int threads = 1;       // prep threads
  int deflate = 1;
};

// Writes captures to DIR/captures and the corpus to DIR/corpus; returns the corpus path.
std::string make_synth_corpus(const std::string& dir, const CorpusSpec& spec = {});

}  // namespace trafficfm::testing

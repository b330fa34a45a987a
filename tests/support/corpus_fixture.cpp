#include "tests/support/corpus_fixture.h"

#include "datasets/capture/capture_reader.h"
#include "datasets/synth/generator.h"

namespace trafficfm::testing {

std::string make_synth_corpus(const std::string& dir, const CorpusSpec& spec) {
  datasets::synth::SynthOptions synth;
  synth.out_dir = dir + "/captures";
  synth.flows = spec.flows;
  synth.hosts = 20;
  synth.seed = spec.seed;
  synth.flows_per_file = spec.flows / 2 + 1;
  datasets::synth::generate_corpus(synth);

  datasets::PrepOptions prep;
  prep.out_dir = dir + "/corpus";
  std::system(("mkdir -p '" + prep.out_dir + "'").c_str());
  prep.encoder = spec.encoder;
  prep.encoder_options.anonymize = spec.anonymize;
  prep.encoder_options.max_tokens = spec.max_tokens;
  prep.encoder_options.pseudonym_key = "test-key";
  prep.shard_bytes = static_cast<std::uint64_t>(spec.shard_mb * (1 << 20));
  prep.shard_options.chunk_rows = spec.chunk_rows;
  prep.shard_options.deflate_level = spec.deflate;
  prep.threads = spec.threads;
  auto labels = datasets::LabelTable::from_csv(synth.out_dir + "/labels.csv");
  const auto files = datasets::list_capture_files({synth.out_dir});
  const auto result = datasets::prep_files(prep, files, &labels);
  datasets::merge_results(prep, {result}, labels.names());
  return prep.out_dir;
}

}  // namespace trafficfm::testing

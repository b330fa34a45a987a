// A trained subword vocabulary (SentencePiece BPE), used by the `lens` encoder with
// `--lens.tokenizer spm`. SentencePiece lives in its own module, libtrafficfm_spm.so, opened
// with RTLD_LOCAL: it carries protobuf-lite symbols that would otherwise interpose on the full
// protobuf LibTorch loads (a crash at LibTorch's start), so the two never share a scope.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace trafficfm::datasets {

class SubwordTokenizer {
 public:
  virtual ~SubwordTokenizer() = default;
  virtual std::vector<int> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual std::string piece(int id) const = 0;
};

// Loads a model written by train_spm_tokenizer. Throws std::runtime_error naming the file.
std::unique_ptr<SubwordTokenizer> load_spm_tokenizer(const std::string& model_path);

// BPE over the lines of `text_path`, ids laid out as docs/data-formats.md says (0 <pad>,
// 1 </s>, 2 <unk>, 3 <tsk>, 4 <head>, 5 <pkt>, 6..105 <extra_id_0..99>, then pieces).
// Writes `model_path` atomically. Throws std::runtime_error on failure.
void train_spm_tokenizer(const std::string& text_path, int vocab_size, const std::string& model_path);

}  // namespace trafficfm::datasets

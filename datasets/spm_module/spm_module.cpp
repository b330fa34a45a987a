// libtrafficfm_spm.so: the only code that links SentencePiece (see subword_tokenizer.h).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "datasets/encoders/subword_tokenizer.h"

namespace {

class SpmTokenizer : public trafficfm::datasets::SubwordTokenizer {
 public:
  bool load(const char* path, std::string* error) {
    const auto status = processor_.Load(path);
    if (!status.ok()) {
      *error = "cannot load SentencePiece model: " + status.ToString();
      return false;
    }
    if (processor_.PieceToId("<pkt>") != 5 || processor_.pad_id() != 0 || processor_.eos_id() != 1) {
      *error = "not a trafficfm lens tokenizer (special token ids differ)";
      return false;
    }
    boundary_ = processor_.PieceToId("\xe2\x96\x81");
    return true;
  }
  std::vector<int> encode(const std::string& text) const override {
    std::vector<int> ids;
    processor_.Encode(text, &ids);
    // SentencePiece starts a sentence with the boundary mark "▁"; alone it carries no bytes.
    if (!ids.empty() && ids.front() == boundary_ && boundary_ != processor_.unk_id()) ids.erase(ids.begin());
    return ids;
  }
  std::string decode(const std::vector<int>& ids) const override {
    std::string text;
    processor_.Decode(ids, &text);
    return text;
  }
  int vocab_size() const override { return processor_.GetPieceSize(); }
  std::string piece(int id) const override { return processor_.IdToPiece(id); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
  int boundary_ = -1;
};

}  // namespace

extern "C" trafficfm::datasets::SubwordTokenizer* trafficfm_spm_load(const char* path, std::string* error) {
  auto tokenizer = std::make_unique<SpmTokenizer>();
  if (!tokenizer->load(path, error)) return nullptr;
  return tokenizer.release();
}

extern "C" bool trafficfm_spm_train(const char* args, std::string* error) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

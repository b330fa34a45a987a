#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <mutex>
#include <stdexcept>

#include "datasets/encoders/subword_tokenizer.h"

namespace trafficfm::datasets {
namespace {

// The module's entry points (datasets/spm_module/spm_module.cpp).
using LoadFn = SubwordTokenizer* (*)(const char* path, std::string* error);
using TrainFn = bool (*)(const char* args, std::string* error);

struct Module {
  LoadFn load = nullptr;
  TrainFn train = nullptr;
  std::string error;
};

const Module& module() {
  static Module m;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("TRAFFICFM_SPM_MODULE")) candidates.push_back(env);
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      const std::string dir =
          std::string(exe, static_cast<std::size_t>(n)).substr(0, std::string(exe, n).find_last_of('/'));
      candidates.push_back(dir + "/libtrafficfm_spm.so");
      candidates.push_back(dir + "/../lib/libtrafficfm_spm.so");
    }
    candidates.push_back(TRAFFICFM_SPM_MODULE_BUILD_PATH);
    for (const auto& path : candidates) {
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        m.error += std::string(m.error.empty() ? "" : "; ") + dlerror();
        continue;
      }
      m.load = reinterpret_cast<LoadFn>(dlsym(handle, "trafficfm_spm_load"));
      m.train = reinterpret_cast<TrainFn>(dlsym(handle, "trafficfm_spm_train"));
      if (m.load && m.train) return;
      m.error = path + ": not a trafficfm SentencePiece module";
    }
  });
  if (!m.load) throw std::runtime_error("cannot load libtrafficfm_spm.so: " + m.error);
  return m;
}

}  // namespace

std::unique_ptr<SubwordTokenizer> load_spm_tokenizer(const std::string& model_path) {
  std::string error;
  SubwordTokenizer* tokenizer = module().load(model_path.c_str(), &error);
  if (!tokenizer) throw std::runtime_error(model_path + ": " + error);
  return std::unique_ptr<SubwordTokenizer>(tokenizer);
}

void train_spm_tokenizer(const std::string& text_path, int vocab_size, const std::string& model_path) {
  std::string specials = "<tsk>,<head>,<pkt>";
  for (int k = 0; k < 100; ++k) specials += ",<extra_id_" + std::to_string(k) + ">";
  const std::string prefix = model_path + ".tmp";
  const std::string args =
      "--input=" + text_path + " --model_prefix=" + prefix +
      " --model_type=bpe --vocab_size=" + std::to_string(vocab_size) +
      " --character_coverage=1.0 --split_by_whitespace=false --max_sentencepiece_length=16"
      " --max_sentence_length=4096 --hard_vocab_limit=false --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
      " --num_threads=1 --minloglevel=2 --user_defined_symbols=" +
      specials;
  std::string error;
  if (!module().train(args.c_str(), &error))
    throw std::runtime_error("spm tokenizer training failed: " + error);
  std::remove((prefix + ".vocab").c_str());
  if (std::rename((prefix + ".model").c_str(), model_path.c_str()) != 0) {
    throw std::runtime_error(model_path + ": cannot move the trained tokenizer into place");
  }
}

}  // namespace trafficfm::datasets

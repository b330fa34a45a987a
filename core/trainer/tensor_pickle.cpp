#include "core/trainer/tensor_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <stdexcept>

namespace trafficfm::core {

void pickle_tensors_to(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const ByteSink& sink) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.cpu().contiguous());
  // What torch::pickle_save does, with the zip container streamed to `sink` instead of grown
  // in a vector: the pickle program is small; tensor storages go out from their own memory.
  std::vector<char> program;
  torch::jit::Pickler pickler(
      [&](const char* bytes, std::size_t size) { program.insert(program.end(), bytes, bytes + size); },
      nullptr, nullptr, nullptr);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  caffe2::serialize::PyTorchStreamWriter archive([&](const void* bytes, std::size_t size) {
    sink(bytes, size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", program.data(), program.size(), pickler.tensorData(), archive);
  archive.writeEndOfFile();
}

std::vector<char> pickle_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::vector<char> out;
  pickle_tensors_to(tensors, [&](const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    out.insert(out.end(), bytes, bytes + size);
  });
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> unpickle_tensors(const std::string& bytes,
                                                                    const std::string& what) {
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    throw std::runtime_error(what + ": not a pickled tensor dict (" + std::string(e.what()).substr(0, 200) +
                             ")");
  }
  if (!value.isGenericDict()) throw std::runtime_error(what + ": not a dict of tensors");
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor())
      throw std::runtime_error(what + ": not a dict of tensors");
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

}  // namespace trafficfm::core

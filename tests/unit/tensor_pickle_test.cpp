// Checkpoint tensors are serialized by streaming torch.save's zip container straight into the
// file. The stream must be byte for byte what torch::pickle_save produces (which Python's
// torch.load reads), and read back to the same tensors.
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include "core/trainer/trainer_checkpoint.h"

namespace trafficfm::core {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> sample_tensors() {
  torch::manual_seed(3);
  return {{"encoder.weight", torch::randn({33, 17})},
          {"encoder.bias", torch::randn({17}, torch::kFloat64)},
          {"step", torch::tensor({42}, torch::kLong)},
          {"transposed", torch::randn({8, 5}).t()}};  // not contiguous: stored contiguous
}

TEST(TensorPickle, StreamedBytesEqualPickleSave) {
  const auto tensors = sample_tensors();
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.contiguous());
  const std::vector<char> expected = torch::pickle_save(c10::IValue(dict));

  std::vector<char> streamed;
  std::size_t pieces = 0;
  pickle_tensors_to(tensors, [&](const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    streamed.insert(streamed.end(), bytes, bytes + size);
    ++pieces;
  });
  EXPECT_GT(pieces, tensors.size());  // streamed in pieces, not handed over as one buffer
  EXPECT_EQ(streamed, expected);
}

TEST(TensorPickle, RoundTripKeepsNamesDtypesAndValues) {
  const auto tensors = sample_tensors();
  const std::vector<char> bytes = pickle_tensors(tensors);
  const auto back = unpickle_tensors(std::string(bytes.begin(), bytes.end()), "test");
  ASSERT_EQ(back.size(), tensors.size());
  std::map<std::string, torch::Tensor> by_name(back.begin(), back.end());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_EQ(by_name[name].dtype(), t.dtype()) << name;
    EXPECT_TRUE(torch::equal(by_name[name], t)) << name;
  }
}

}  // namespace
}  // namespace trafficfm::core

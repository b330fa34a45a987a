// safetensors (Hugging Face's tensor file): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {...}} padded
// with spaces to a multiple of 8, then the raw little-endian bytes. Written here (about 150
// lines) rather than taken from a library: Debian packages no C++ safetensors, and the format
// is small enough to check in full.
//  - write_safetensors writes atomically (temp file, fsync, rename), tensors in the given order.
//  - read_safetensors treats the file as untrusted: the header length, every dtype, shape and
//    offset range is checked against the file; an error names the file and the problem.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trafficfm::core {

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace trafficfm::core

// SHA-256 (FIPS 180-4), for shard and checkpoint integrity. Streaming: update() any number of
// times, then hex_digest().
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace trafficfm::core {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t length);
  std::string hex_digest();  // finishes the hash; call once

 private:
  void compress(const std::uint8_t* block);
  std::uint32_t state_[8];
  std::uint8_t buffer_[64];
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

// Hash of a whole file; throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace trafficfm::core

#include "core/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace trafficfm::core {

namespace {

// The implementation, fetched once. OpenSSL 3 looks EVP_sha256() up again at every
// EVP_DigestInit_ex, which costs more than hashing a corpus row (prep starts one per row).
const EVP_MD* sha256_md() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (fetched) return fetched;
#endif
  return EVP_sha256();
}

}  // namespace

struct Sha256::State {
  EVP_MD_CTX* context = nullptr;
  bool finished = false;
  ~State() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->context = EVP_MD_CTX_new();
  if (!state_->context || EVP_DigestInit_ex(state_->context, sha256_md(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not start a SHA-256 digest");
  }
}

Sha256::~Sha256() = default;

void Sha256::reset() {
  if (EVP_DigestInit_ex(state_->context, sha256_md(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not restart a SHA-256 digest");
  }
  state_->finished = false;
}

void Sha256::update(const void* data, std::size_t length) {
  if (state_->finished) throw std::logic_error("Sha256::update after hex_digest");
  if (length > 0 && EVP_DigestUpdate(state_->context, data, length) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 update failed");
  }
}

std::array<std::uint8_t, 32> Sha256::digest() {
  if (state_->finished) throw std::logic_error("Sha256 digest taken twice");
  std::array<std::uint8_t, 32> out{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(state_->context, out.data(), &size) != 1 || size != out.size()) {
    throw std::runtime_error("OpenSSL SHA-256 final failed");
  }
  state_->finished = true;
  return out;
}

std::string Sha256::hex_digest() {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const std::uint8_t byte : digest()) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

std::string sha256_hex(const void* data, std::size_t length) {
  Sha256 hash;
  hash.update(data, length);
  return hash.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw std::runtime_error("cannot open '" + path + "' to hash it: " + std::strerror(errno));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) hash.update(buffer.data(), n);
  const bool failed = std::ferror(file);
  std::fclose(file);
  if (failed) throw std::runtime_error("read error while hashing '" + path + "'");
  return hash.hex_digest();
}

}  // namespace trafficfm::core

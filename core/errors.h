// Error kinds that map to process exit codes (documented in the README):
//   UsageError -> 2 (bad option, unknown key, missing argument)
//   any other std::exception -> 1
#pragma once
#include <stdexcept>
#include <string>

namespace trafficfm::core {

// The user asked for something the program cannot parse; exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace trafficfm::core

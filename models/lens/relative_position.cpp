#include "models/lens/relative_position.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trafficfm::models {

std::int64_t relative_position_bucket(std::int64_t distance, bool bidirectional, std::int64_t num_buckets,
                                      std::int64_t max_distance) {
  if (num_buckets < 4 || max_distance < 2) throw std::invalid_argument("relative position: too few buckets");
  std::int64_t bucket = 0;
  std::int64_t n = 0;  // how far, in the direction that gets distinct buckets
  if (bidirectional) {
    num_buckets /= 2;
    if (distance > 0) bucket += num_buckets;
    n = std::abs(distance);
  } else {
    n = std::max<std::int64_t>(-distance, 0);
  }
  const std::int64_t max_exact = num_buckets / 2;
  if (n < max_exact) return bucket + n;
  // Logarithmic between max_exact and max_distance; truncated toward zero, as T5 casts it.
  const double scaled = std::log(static_cast<double>(n) / max_exact) /
                        std::log(static_cast<double>(max_distance) / max_exact) * (num_buckets - max_exact);
  const auto large = max_exact + static_cast<std::int64_t>(scaled);
  return bucket + std::min(large, num_buckets - 1);
}

torch::Tensor relative_position_buckets(std::int64_t query_length, std::int64_t key_length,
                                        bool bidirectional, std::int64_t num_buckets,
                                        std::int64_t max_distance) {
  auto out = torch::empty({query_length, key_length}, torch::kLong);
  auto a = out.accessor<std::int64_t, 2>();
  for (std::int64_t q = 0; q < query_length; ++q) {
    for (std::int64_t k = 0; k < key_length; ++k) {
      a[q][k] = relative_position_bucket(k - q, bidirectional, num_buckets, max_distance);
    }
  }
  return out;
}

}  // namespace trafficfm::models

#include "models/lens/t5_dropout.h"

#include <stdexcept>
#include <string>

#include "models/common/sample_random.h"

namespace trafficfm::models {

namespace {
constexpr std::uint64_t kDropoutStream = 0xd2090000ULL;  // apart from lens_batch's streams
}

T5Dropout::T5Dropout(double rate) : rate_(rate) {
  if (rate < 0 || rate >= 1)
    throw std::invalid_argument("--lens.dropout must be in [0, 1), not " + std::to_string(rate));
}

void T5Dropout::start(std::vector<std::uint64_t> keys) {
  keys_ = std::move(keys);
  next_site_ = 0;
}

void T5Dropout::start(std::uint64_t seed, std::uint64_t epoch,
                      const std::vector<std::uint64_t>& sample_index) {
  if (rate_ > 0) start(sample_keys(seed, epoch, sample_index));
}

torch::Tensor T5Dropout::apply(const torch::Tensor& x, bool training, std::int64_t dim, std::int64_t full,
                               std::int64_t offset) {
  if (!training || rate_ <= 0) return x;
  if (static_cast<std::int64_t>(keys_.size()) != x.size(0))
    throw std::logic_error("T5Dropout: " + std::to_string(keys_.size()) + " sample keys for a batch of " +
                           std::to_string(x.size(0)) + " (start() before each training forward)");
  if (dim < 0) dim += x.dim();
  auto shape = x.sizes().vec();
  if (full > 0) shape[static_cast<std::size_t>(dim)] = full;
  std::int64_t per_sample = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) per_sample *= shape[i];
  auto u = per_sample_uniform(keys_, per_sample, kDropoutStream + next_site_++, x.device()).view(shape);
  if (full > 0) u = u.narrow(dim, offset, x.size(dim));
  const auto keep = (u >= rate_).to(x.scalar_type());
  return x * keep * (1.0 / (1.0 - rate_));
}

}  // namespace trafficfm::models

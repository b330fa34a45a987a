#include "models/mmae/flowmix.h"

#include <limits>

namespace trafficfm::models {

FlowStatsEncoder::FlowStatsEncoder(std::int64_t statistics, std::int64_t out_dim)
    : statistics_(statistics), out_dim_(out_dim) {
  input_norm = register_module("input_norm", torch::nn::BatchNorm1d(statistics));
  conv1 = register_module("conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 16, 3).padding(1)));
  norm1 = register_module("norm1", torch::nn::BatchNorm1d(16));
  conv2 = register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(16, 32, 3).padding(1)));
  norm2 = register_module("norm2", torch::nn::BatchNorm1d(32));
  project = register_module("project", torch::nn::Linear(32, out_dim));
  for (auto& p : parameters()) p.set_requires_grad(false);
}

double FlowStatsEncoder::forward_flops() const {
  const double length = static_cast<double>(statistics_);  // the convolutions keep it (padding 1)
  return 2.0 * length * 3.0 * (1 * 16 + 16 * 32) + 2.0 * 32 * static_cast<double>(out_dim_);
}

torch::Tensor FlowStatsEncoder::forward(const torch::Tensor& stats) {
  // BatchNorm cannot take batch statistics from a single flow, and an epoch's last, partial batch
  // can hold one (241 training flows in batches of 8): such a batch uses the running statistics.
  const bool single_flow_batch = is_training() && stats.size(0) < 2;
  if (single_flow_batch) eval();
  auto encoded = encode(stats);
  if (single_flow_batch) train();
  return encoded;
}

torch::Tensor FlowStatsEncoder::encode(const torch::Tensor& stats) {
  auto normalized = input_norm->forward(stats);
  auto h = norm1->forward(torch::relu(conv1->forward(normalized.unsqueeze(1))));
  h = norm2->forward(torch::relu(conv2->forward(h)));
  h = std::get<0>(h.max(-1));  // adaptive max pool to 1
  return torch::cat({normalized, torch::relu(project->forward(h))}, 1);
}

torch::Tensor mutual_best_pairs(const torch::Tensor& embedding) {
  const auto n = embedding.size(0);
  auto normalized = torch::nn::functional::normalize(embedding.to(torch::kFloat).cpu(),
                                                     torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto sim = torch::matmul(normalized, normalized.t()).contiguous();
  const float minus_inf = -std::numeric_limits<float>::infinity();
  sim.fill_diagonal_(minus_inf);
  auto partner = torch::arange(n, torch::kLong);
  auto s = sim.accessor<float, 2>();
  auto p = partner.accessor<std::int64_t, 1>();
  // Repeatedly taking the most similar unpaired two (O(n³)) is the same as walking all pairs
  // once from the most similar down and taking each whose flows are both still unpaired:
  // O(n² log n). Ties go to the smaller i, then the smaller j, as the repeated scan took them.
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
  pairs.reserve(static_cast<std::size_t>(n * (n - 1) / 2));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = i + 1; j < n; ++j) {
      if (s[i][j] > minus_inf) pairs.emplace_back(i, j);  // NaN and -inf pairs were never taken
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [&](const auto& a, const auto& b) { return s[a.first][a.second] > s[b.first][b.second]; });
  std::vector<bool> paired(static_cast<std::size_t>(n), false);
  for (const auto& [i, j] : pairs) {
    if (paired[i] || paired[j]) continue;
    p[i] = j;
    p[j] = i;
    paired[i] = paired[j] = true;
  }
  return partner;
}

}  // namespace trafficfm::models

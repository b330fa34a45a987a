#include "models/graph/graph_task.h"

#include <sstream>

#include "core/errors.h"
#include "core/json_value.h"
#include "models/common/sample_random.h"

namespace trafficfm::models {

namespace {
constexpr std::int64_t kBins = 1024;
}

std::pair<torch::Tensor, torch::Tensor> feature_ranges(const std::string& corpus_settings) {
  const auto j = core::JsonValue::parse(corpus_settings.empty() ? "{}" : corpus_settings);
  auto read = [&](const char* key, float fallback) {
    std::vector<float> v(datasets::kFlowStatistics, fallback);
    if (j.has(key)) {
      const auto& a = j[key].as_array();
      for (std::size_t i = 0; i < v.size() && i < a.size(); ++i) v[i] = static_cast<float>(a[i].as_number());
    }
    return torch::tensor(v);
  };
  return {read("feature_log1p_min", 0.0f), read("feature_log1p_max", 1.0f)};
}

double histogram_auc(const torch::Tensor& histogram) {
  const auto h = histogram.to(torch::kFloat64).cpu();
  const auto neg = h[0], pos = h[1];
  const double n_neg = neg.sum().item<double>(), n_pos = pos.sum().item<double>();
  if (n_neg == 0 || n_pos == 0) return 0.5;
  // P(score_pos > score_neg) + 0.5 P(same bin).
  const auto below = torch::cumsum(neg, 0) - neg;
  return ((pos * below).sum().item<double>() + 0.5 * (pos * neg).sum().item<double>()) / (n_neg * n_pos);
}

GraphLinkTask::GraphLinkTask(const GraphConfig& config, const std::string& corpus_settings,
                             std::uint64_t seed, torch::Device device)
    : config_(config), seed_(seed), device_(device) {
  if (config.layers < 1)
    throw core::UsageError("graph pretraining needs --graph.layers >= 1 (0 is the fine-tuning baseline)");
  torch::manual_seed(seed);
  model_ = HeteroSage(config);
  const auto [lo, hi] = feature_ranges(corpus_settings);
  {
    torch::NoGradGuard no_grad;
    model_->log1p_min.copy_(lo);
    model_->log1p_max.copy_(hi);
  }
  model_->to(device);
  histogram_ = torch::zeros({2, kBins}, torch::kFloat64);
}

std::map<std::string, torch::Tensor> GraphLinkTask::losses(const datasets::Batch& batch) {
  const auto in = collate_graphs(batch, model_->log1p_min, model_->log1p_max, config_.encoding_dims, device_);
  const auto keys = sample_keys(seed_, batch.epoch, batch.sample_index);
  const auto targets = draw_link_targets(in, config_.supervision, keys);
  torch::Tensor masked;  // attribute masking's rows (with --graph.mask)
  auto flow_x = in.flow_x;
  if (config_.mask > 0) {
    const auto drawn = draw_masked_flows(in, config_.mask, keys);
    flow_x = mask_flow_features(in.flow_x, drawn);
    masked = drawn.nonzero().squeeze(1);
  }
  const auto [flow_h, ip_h] = model_->forward(flow_x, in.ip_x, targets.message);
  std::vector<torch::Tensor> logits, labels;
  for (int t = 0; t < kEdgeTypes; ++t) {
    const auto type = static_cast<datasets::EdgeType>(t);
    const auto& source = datasets::edge_source_type(type) == datasets::NodeType::kFlow ? flow_h : ip_h;
    const auto& target = datasets::edge_target_type(type) == datasets::NodeType::kFlow ? flow_h : ip_h;
    for (const auto* pairs : {&targets.positive[t], &targets.negative[t]}) {
      if (pairs->size(1) == 0) continue;
      const auto x_s = source.index_select(0, (*pairs)[0]), x_t = target.index_select(0, (*pairs)[1]);
      auto product = x_s * x_t;
      if (model_->link_relation.defined()) product = product * model_->link_relation[t];
      if (model_->link_bias.defined())
        product = product + x_s * model_->link_bias[t][0] + x_t * model_->link_bias[t][1];
      logits.push_back(product.sum(1));
      labels.push_back(
          torch::full({pairs->size(1)}, pairs == &targets.positive[t] ? 1.0 : 0.0, flow_h.options()));
    }
  }
  // Attribute masking: squared error over each masked flow's present statistics, summed (with no
  // flow masked still a zero that reaches the decoder, so every rank has its gradient).
  torch::Tensor squared, present;
  if (masked.defined()) {
    constexpr std::int64_t s = datasets::kFlowStatistics;
    const auto truth = in.flow_x.index_select(0, masked);
    present = 1.0 - truth.slice(1, s, 2 * s);
    const auto predicted = torch::sigmoid(model_->mask_decoder(flow_h.index_select(0, masked)));
    squared = ((predicted - truth.slice(1, 0, s)).pow(2) * present).sum();
  }
  std::map<std::string, torch::Tensor> out;
  if (logits.empty()) {  // no edge to predict (a graph of one flow): weigh 0, keep the graph in autograd
    // and give every parameter (decoders included) a zero gradient: the reducer expects one of
    // every parameter on every dp rank.
    auto zero = (flow_h.sum() + ip_h.sum()) * 0.0;
    for (const auto& p : model_->parameters()) zero = zero + p.sum() * 0.0;
    out["loss"] = zero;
    out["link_acc"] = zero.detach();
    if (squared.defined()) out["mask_mse"] = zero.detach();  // every rank logs the same metrics
    out["weight"] = torch::zeros({}, flow_h.options());
    return out;
  }
  const auto logit = torch::cat(logits), label = torch::cat(labels);
  out["loss"] = torch::binary_cross_entropy_with_logits(logit, label);
  if (squared.defined()) {
    // Counted per scored pair like the BCE, so the dp average stays the single-rank one.
    out["loss"] = out["loss"] + config_.mask_weight * squared / static_cast<double>(logit.size(0));
    out["mask_mse"] = (squared / present.sum().clamp_min(1.0)).detach();  // per present statistic
  }
  out["link_acc"] = ((logit > 0).to(label.dtype()) == label).to(torch::kFloat32).mean().detach();
  out["weight"] = torch::full({}, batch.filler ? 0.0 : static_cast<double>(logit.size(0)), flow_h.options());
  if (!model_->is_training() && !batch.filler) {
    const auto bin = (torch::sigmoid(logit.detach()) * kBins).to(torch::kInt64).clamp(0, kBins - 1).cpu();
    const auto positive = label.detach().cpu().to(torch::kInt64);
    histogram_.view(-1).index_add_(0, positive * kBins + bin, torch::ones({bin.size(0)}, torch::kFloat64));
  }
  return out;
}

void GraphLinkTask::begin_eval() { histogram_.zero_(); }

std::map<std::string, double> GraphLinkTask::end_eval(distributed::Communicator& dp) {
  // On the model's device (NCCL reduces device tensors); counts are exact in float32 below 2^24.
  auto h = histogram_.to(device_, torch::kFloat32);
  dp.all_reduce(h, distributed::ReduceOp::kSum);
  return {{"link_auc", histogram_auc(h)}};
}

double GraphLinkTask::batch_flops(const datasets::Batch& batch) const {
  if (batch.filler) return 0.0;
  const auto& flows = batch.offsets_of("flow_stats");
  const auto& ips = batch.offsets_of("ip_slice");
  std::array<std::int64_t, kEdgeTypes> edges{};
  const auto* types = batch.column<std::uint8_t>("edge_type");
  const auto total = batch.offsets_of("edge_type").back();
  for (std::uint64_t e = 0; e < total; ++e) {
    if (types[e] < kEdgeTypes) ++edges[types[e]];
  }
  return model_->flops(static_cast<std::int64_t>(flows.back()), static_cast<std::int64_t>(ips.back()), edges);
}

}  // namespace trafficfm::models

namespace trafficfm::models {

std::string GraphLinkTask::flops_rates() const {
  const auto rates = model_->flop_rates();
  std::ostringstream out;
  out << "training FLOPs per edge";
  for (int t = 0; t < kEdgeTypes; ++t)
    out << (t ? ", " : " ") << datasets::kEdgeTypeNames[t] << " " << rates.per_edge[t];
  out << "; per flow node " << rates.per_flow << ", per ip node " << rates.per_ip;
  return out.str();
}

double GraphLinkTask::batch_tokens(const datasets::Batch& batch) const {
  return batch.filler ? 0.0 : static_cast<double>(batch.offsets_of("edge_type").back());
}

}  // namespace trafficfm::models

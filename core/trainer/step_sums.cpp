#include "core/trainer/step_sums.h"

namespace trafficfm::core {

torch::Tensor take_weight(const datasets::Batch& batch, std::map<std::string, torch::Tensor>& losses) {
  const auto device = losses.at("loss").device();
  torch::Tensor weight;
  const auto it = losses.find("weight");
  if (it != losses.end()) {
    weight = it->second.detach().to(torch::kDouble).reshape({});
    losses.erase(it);
  } else {
    weight = torch::tensor(static_cast<double>(batch.rows), torch::kDouble).to(device, /*non_blocking=*/true);
  }
  return batch.filler ? torch::zeros_like(weight) : weight;
}

std::string counted_term(const std::string& name, const std::map<std::string, double>& counts) {
  std::string best;
  for (const auto& [term, count] : counts) {
    const bool match = name == term || (name.size() > term.size() + 1 &&
                                        name.compare(0, term.size(), term) == 0 && name[term.size()] == '_');
    if (match && term.size() > best.size()) best = term;
  }
  return best;
}

void StepSums::add(const std::map<std::string, torch::Tensor>& losses, const torch::Tensor& w,
                   const std::map<std::string, double>& counts) {
  weight_sum_ = weight_sum_.defined() ? weight_sum_ + w : w.clone();
  for (const auto& [name, value] : losses) {
    if (!counts.empty() && name == "loss") continue;  // set from the term means in reduce()
    const std::string term = counts.empty() ? std::string() : counted_term(name, counts);
    const auto tw = term.empty() ? w : torch::full({}, counts.at(term), w.options());
    // tw * value in float64, as the host did; a term of a weightless batch (a filler's NaN
    // loss) adds nothing.
    const auto weighted =
        torch::where(tw > 0, tw * value.detach().to(torch::kDouble).reshape({}), torch::zeros_like(tw));
    auto& sum = term_sums_[name];
    sum = sum.defined() ? sum + weighted : weighted;
    auto& weights = term_weights_[name];
    weights = weights.defined() ? weights + tw : tw.clone();
  }
}

void StepSums::reduce(distributed::Communicator& dp, const std::map<std::string, double>& coefficients) {
  std::vector<torch::Tensor> on_device;
  if (weight_sum_.defined()) on_device.push_back(weight_sum_);
  for (const auto& [name, value] : term_sums_) on_device.push_back(value);
  for (const auto& [name, value] : term_weights_) on_device.push_back(value);
  std::vector<double> read;
  if (!on_device.empty()) {
    const auto host = torch::stack(on_device).to(torch::kCPU);  // the step's one read
    read.assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  }
  std::vector<double> values{weight_sum_.defined() ? read[0] : 0.0, flops, tokens, samples};
  values.insert(values.end(), read.begin() + (weight_sum_.defined() ? 1 : 0), read.end());
  if (dp.size() > 1) {
    auto t = torch::tensor(values, torch::kDouble);
    dp.all_reduce(t, distributed::ReduceOp::kSum);
    values.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  weight = values[0];
  flops = values[1];
  tokens = values[2];
  samples = values[3];
  const std::size_t n = term_sums_.size();
  std::size_t i = 0;
  for (const auto& [name, value] : term_sums_) {
    const double sum = values[4 + i], weights = values[4 + n + i];
    ++i;
    // A counted term with no example in the step has no mean: it is left out of the line
    // rather than logged as a perfect 0.
    if (!coefficients.empty() && weights <= 0 && name != "loss") continue;
    terms[name] = weights > 0 ? sum / weights : sum;
  }
  if (coefficients.empty()) return;
  double loss = 0;
  for (const auto& [term, coefficient] : coefficients) {
    const auto it = terms.find(term);
    if (it != terms.end()) loss += coefficient * it->second;
  }
  terms["loss"] = loss;
}

}  // namespace trafficfm::core

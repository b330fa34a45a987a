#include "models/finetune/finetune_task.h"

#include <algorithm>
#include <cmath>

#include "core/json.h"
#include "core/log.h"

namespace trafficfm::models {

namespace F = torch::nn::functional;

torch::Tensor sample_units(const datasets::Batch& batch) {
  std::vector<std::int64_t> units;
  units.reserve(batch.rows);
  for (std::size_t r = 0; r < batch.rows; ++r)
    units.push_back(static_cast<std::int64_t>(label_unit(batch.sample_index[r], 0)));
  return torch::tensor(units, torch::kInt64);
}

FinetuneTask::Selection::Selection() {
  score = register_buffer("score", torch::full({1}, -1.0, torch::kDouble));
  step = register_buffer("step", torch::zeros({1}, torch::kLong));
}

FinetuneTask::FinetuneTask(Classifier& classifier, Classifier& best, const LabelPlan& plan,
                           FinetuneOptions options, torch::Device device)
    : classifier_(classifier), plan_(plan), options_(options), device_(device), best_(best) {
  std::vector<std::int64_t> lookup = {-1};
  for (int c : plan_.corpus_to_class) lookup.push_back(c);
  corpus_to_class_ = torch::tensor(lookup, torch::kLong).to(device_);
  const auto k = static_cast<std::int64_t>(plan_.classes.size());
  confusion_ = torch::zeros({k, k}, torch::kDouble);
}

torch::Tensor FinetuneTask::class_of(const torch::Tensor& corpus_labels) const {
  // Labels outside the corpus's label list count as unlabeled.
  const auto n = corpus_to_class_.size(0) - 1;
  const auto valid = (corpus_labels >= 0) & (corpus_labels < n);
  return corpus_to_class_.index_select(
      0, torch::where(valid, corpus_labels + 1, torch::zeros_like(corpus_labels)));
}

torch::Tensor FinetuneTask::in_plan(const torch::Tensor& units, const std::string& role) const {
  const auto it = plan_.units.find(role);
  auto keep = torch::zeros({units.size(0)}, torch::kBool);
  if (it == plan_.units.end()) return keep;
  const auto& planned = it->second;
  const auto u = units.to(torch::kCPU).contiguous();
  const auto* id = u.data_ptr<std::int64_t>();
  auto* out = keep.data_ptr<bool>();
  for (std::int64_t i = 0; i < u.size(0); ++i) {
    out[i] = std::binary_search(planned.begin(), planned.end(), static_cast<std::uint64_t>(id[i]));
  }
  return keep;
}

std::map<std::string, torch::Tensor> FinetuneTask::losses(const datasets::Batch& batch) {
  auto [logits, labels, units] = classifier_.forward(batch);
  // Only the plan's units of the batch's role count: a graph of the train role also holds val
  // and test flows, and unchosen train flows (few-shot), which must not be learned from.
  auto target = class_of(labels.to(device_));
  target = torch::where(in_plan(units, batch.role).to(device_), target, torch::full_like(target, -1));
  const auto kept = target >= 0;
  const auto count = kept.sum().item<std::int64_t>();
  std::map<std::string, torch::Tensor> terms;
  // The batch weighs its labelled units: dp ranks and micro-batches holding different numbers
  // of them average as one batch would (a per-unit mean).
  terms["weight"] = torch::full({}, static_cast<double>(count), torch::kDouble);
  if (count == 0) {                      // same terms on every rank: dp averages them
    terms["loss"] = logits.sum() * 0.0;  // keeps the graph (every rank must run backward)
    terms["accuracy_batch"] = torch::zeros({}, torch::kFloat);
    return terms;
  }
  terms["loss"] = F::cross_entropy(
      logits, target,
      F::CrossEntropyFuncOptions().ignore_index(-1).label_smoothing(options_.label_smoothing));
  if (!classifier_.module().is_training()) {
    torch::NoGradGuard no_grad;
    const auto predicted = logits.argmax(1).masked_select(kept).cpu();
    const auto truth = target.masked_select(kept).cpu();
    const auto k = confusion_.size(0);
    confusion_.view(-1).index_add_(0, truth * k + predicted, torch::ones({truth.size(0)}, torch::kDouble));
  }
  terms["accuracy_batch"] =
      (logits.argmax(1) == target).masked_select(kept).to(torch::kFloat).mean().detach();
  return terms;
}

void FinetuneTask::observe(const datasets::Batch& batch) {
  torch::NoGradGuard no_grad;
  losses(batch);
}

double FinetuneTask::lr_scale(const std::string& name) const {
  const int top = classifier_.layers() + 1;
  return std::pow(options_.layer_decay, top - classifier_.layer_of(name));
}

void FinetuneTask::begin_eval() { confusion_.zero_(); }

core::ClassificationReport FinetuneTask::report(distributed::Communicator& dp) const {
  auto total = confusion_.clone();
  dp.all_reduce(total, distributed::ReduceOp::kSum);
  const auto k = static_cast<std::size_t>(total.size(0));
  std::vector<std::vector<std::uint64_t>> matrix(k, std::vector<std::uint64_t>(k));
  for (std::size_t t = 0; t < k; ++t) {
    for (std::size_t p = 0; p < k; ++p) {
      matrix[t][p] = static_cast<std::uint64_t>(std::llround(total[t][p].item<double>()));
    }
  }
  return core::classification_report(plan_.classes, matrix);
}

std::map<std::string, double> FinetuneTask::end_eval(distributed::Communicator& dp) {
  const auto r = report(dp);
  return {{"macro_f1", r.macro_f1}, {"accuracy", r.accuracy}, {"weighted_f1", r.weighted_f1}};
}

namespace {

void copy_weights(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  const auto source_parameters = from.parameters();
  const auto source_buffers = from.buffers();
  auto target_parameters = to.parameters();
  auto target_buffers = to.buffers();
  for (std::size_t i = 0; i < target_parameters.size(); ++i)
    target_parameters[i].copy_(source_parameters.at(i));
  for (std::size_t i = 0; i < target_buffers.size(); ++i) target_buffers[i].copy_(source_buffers.at(i));
}

}  // namespace

void FinetuneTask::after_eval(std::uint64_t step, const std::map<std::string, double>& metrics) {
  const auto it = metrics.find("val_macro_f1");
  if (it == metrics.end() || it->second <= best_val_macro_f1()) return;
  selection_->score.fill_(it->second);
  selection_->step.fill_(static_cast<std::int64_t>(step));
  copy_weights(classifier_.module(), best_.module());
}

bool FinetuneTask::restore_best() {
  if (best_val_macro_f1() < 0) return false;
  copy_weights(best_.module(), classifier_.module());
  return true;
}

std::vector<std::pair<std::string, torch::nn::Module*>> FinetuneTask::checkpoint_modules() {
  return {{"", &classifier_.module()}, {"best.", &best_.module()}, {"selection.", selection_.get()}};
}

std::string FinetuneTask::config_json() const {
  core::JsonObject out;
  out.set_raw("backbone", classifier_.config_json()).set("classes", plan_.classes);
  out.set("label_smoothing", options_.label_smoothing).set("layer_decay", options_.layer_decay);
  return out.str();
}

}  // namespace trafficfm::models

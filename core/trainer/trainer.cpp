#include "core/trainer/trainer.h"

#include <chrono>
#include <filesystem>
#include <cmath>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "core/checkpoint_store.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics_writer.h"
#include "core/progress.h"
#include "core/stop_signals.h"
#include "distributed/reducer.h"
#include "distributed/zero_optimizer.h"

namespace trafficfm::core {

using Clock = std::chrono::steady_clock;

struct Trainer::State {
  Task& task;
  datasets::Loader& loader;
  distributed::ProcessGrid& grid;
  TrainerOptions options;
  std::unique_ptr<distributed::Reducer> reducer;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  distributed::TensorParallelParameters tp_params;
  CheckpointStore store;
  std::unique_ptr<MetricsWriter> metrics;
  State(Task& t, datasets::Loader& l, distributed::ProcessGrid& g, TrainerOptions o)
      : task(t), loader(l), grid(g), options(std::move(o)), store(options.out_dir) {}
  std::string part_name() const { return "rank-" + std::to_string(grid.layout().rank) + ".pt"; }
};

Trainer::Trainer(Task& task, datasets::Loader& loader, distributed::ProcessGrid& grid, TrainerOptions options)
    : state_(std::make_unique<State>(task, loader, grid, std::move(options))) {
  State& s = *state_;
  torch::nn::Module& model = s.task.model();
  std::vector<distributed::NamedParameter> named;
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model.named_parameters()) {
    named.push_back({p.key(), p.value()});
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());  // no decay on biases and norms
  }
  s.reducer = std::make_unique<distributed::Reducer>(named, s.grid.dp());
  s.tp_params = distributed::tensor_parallel_parameters(model);
  auto make = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(s.options.schedule.peak)
                                                            .betas({s.options.beta1, s.options.beta2})
                                                            .eps(s.options.eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, make(s.options.weight_decay));
  groups.emplace_back(no_decay, make(0.0));
  s.optimizer = std::make_unique<torch::optim::AdamW>(groups);
}

Trainer::~Trainer() = default;

void Trainer::save(std::uint64_t step) {
  State& s = *state_;
  torch::serialize::OutputArchive archive;
  for (const auto& p : s.task.model().named_parameters()) archive.write("model." + p.key(), p.value());
  for (const auto& b : s.task.model().named_buffers()) archive.write("buffer." + b.key(), b.value());
  torch::serialize::OutputArchive optimizer;
  s.optimizer->save(optimizer);
  archive.write("optimizer", optimizer);
  archive.write("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  std::ostringstream bytes;
  archive.save_to(bytes);
  // The loader position travels as JSON text beside the tensors.
  s.store.write_part(step, s.part_name(), bytes.str());
  s.store.write_part(step, "loader-" + std::to_string(s.grid.layout().rank) + ".json", s.loader.state().to_json());
  s.grid.world().barrier();
  if (s.grid.layout().rank == 0) {
    std::vector<std::string> parts;
    for (int r = 0; r < s.grid.layout().world; ++r) {
      parts.push_back("rank-" + std::to_string(r) + ".pt");
      parts.push_back("loader-" + std::to_string(r) + ".json");
    }
    const auto& g = s.grid.layout();
    s.store.commit(step, parts, JsonObject().set("dp", g.dp).set("tp", g.tp).set("world", g.world).str());
    s.store.apply_retention(s.options.keep_last, s.options.milestone_every);
    log_info("checkpoint: step ", step, " -> ", s.store.step_dir(step));
  }
  s.grid.world().barrier();
}

std::uint64_t Trainer::restore() {
  State& s = *state_;
  CheckpointStore::Found found;
  std::vector<std::string> warnings;
  const bool ok = s.store.newest_valid(found, &warnings);
  for (const auto& w : warnings) log_warn("resume: ", w);
  if (!ok) {
    log_info("resume: no valid checkpoint in ", s.store.root(), "; starting fresh");
    return 0;
  }
  std::istringstream bytes(s.store.read_part(found.dir, s.part_name()));
  torch::serialize::InputArchive archive;
  archive.load_from(bytes);
  torch::NoGradGuard no_grad;
  for (auto& p : s.task.model().named_parameters()) {
    torch::Tensor t;
    archive.read("model." + p.key(), t);
    p.value().copy_(t);
  }
  for (auto& b : s.task.model().named_buffers()) {
    torch::Tensor t;
    archive.read("buffer." + b.key(), t);
    b.value().copy_(t);
  }
  torch::serialize::InputArchive optimizer;
  archive.read("optimizer", optimizer);
  s.optimizer->load(optimizer);
  torch::Tensor rng;
  archive.read("rng.cpu", rng);
  const_cast<at::Generator&>(at::detail::getDefaultCPUGenerator()).set_state(rng);
  s.loader.restore(datasets::LoaderState::from_json(
      s.store.read_part(found.dir, "loader-" + std::to_string(s.grid.layout().rank) + ".json")));
  log_info("resume: continuing from ", found.dir, " (step ", found.step, ")");
  return found.step;
}

TrainResult Trainer::run() {
  State& s = *state_;
  TrainResult result;
  install_stop_handlers();
  std::filesystem::create_directories(s.options.out_dir);
  const bool rank0 = s.grid.layout().rank == 0;
  std::uint64_t step = s.options.resume ? restore() : 0;
  result.resumed_from = step;
  if (rank0) s.metrics = std::make_unique<MetricsWriter>(s.options.out_dir + "/metrics.jsonl", /*truncate=*/step == 0);
  Progress progress("train", s.options.steps, "steps");
  progress.advance(step);
  std::size_t bad_in_a_row = 0;
  auto& model = s.task.model();
  while (step < s.options.steps) {
    const auto started = Clock::now();
    const double lr = s.options.schedule.at(step);
    for (auto& group : s.optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    model.zero_grad();
    std::map<std::string, double> terms;
    double data_seconds = 0;
    std::size_t samples = 0;
    for (std::size_t micro = 0; micro < s.options.accumulation; ++micro) {
      s.reducer->set_sync(micro + 1 == s.options.accumulation);
      const auto fetch = Clock::now();
      const auto batch = s.loader.next();
      data_seconds += std::chrono::duration<double>(Clock::now() - fetch).count();
      samples += batch.rows;
      auto losses = s.task.losses(batch);
      (losses.at("loss") / static_cast<double>(s.options.accumulation)).backward();
      s.reducer->finish();
      for (const auto& [name, value] : losses) terms[name] += value.item<double>() / s.options.accumulation;
    }
    const double norm = s.options.clip_norm > 0 ? distributed::clip_grad_norm(s.tp_params, s.options.clip_norm, s.grid.tp())
                                                : distributed::global_grad_norm(s.tp_params, s.grid.tp());
    // Every rank must take the same decision: agree on "bad" with an all-reduce.
    auto bad = torch::tensor({std::isfinite(terms["loss"]) && std::isfinite(norm) ? 0.0 : 1.0}, torch::kDouble);
    s.grid.world().all_reduce(bad, distributed::ReduceOp::kMax);
    if (bad.item<double>() > 0) {
      ++result.skipped_steps;
      log_warn("step ", step, ": non-finite loss or gradient, update skipped (", ++bad_in_a_row, " in a row)");
      if (bad_in_a_row >= s.options.max_bad_steps) {
        log_error("stopping: ", bad_in_a_row, " non-finite steps in a row; the last checkpoint is from before");
        result.exit_code = 1;
        break;
      }
    } else {
      bad_in_a_row = 0;
      s.optimizer->step();
    }
    ++step;
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    // Loss terms averaged over dp ranks for the log.
    if (rank0 || s.grid.dp().size() > 1) {
      std::vector<double> values;
      for (const auto& [name, value] : terms) values.push_back(value);
      auto t = torch::tensor(values, torch::kDouble);
      s.grid.dp().all_reduce(t, distributed::ReduceOp::kAvg);
      std::size_t i = 0;
      for (auto& [name, value] : terms) value = t[static_cast<std::int64_t>(i++)].item<double>();
    }
    if (rank0 && (step % s.options.log_every == 0 || step == s.options.steps)) {
      JsonObject line;
      line.set("step", static_cast<std::uint64_t>(step));
      for (const auto& [name, value] : terms) line.set(name, value);
      line.set("lr", lr).set("grad_norm", norm).set("step_time_s", seconds).set("data_time_s", data_seconds);
      line.set("samples_per_s", samples * s.grid.dp().size() / seconds);
      s.metrics->write(line);
    }
    progress.advance();
    auto stop = torch::tensor({static_cast<double>(stop_signal())}, torch::kDouble);
    s.grid.world().all_reduce(stop, distributed::ReduceOp::kMax);
    const int signal = static_cast<int>(stop.item<double>());
    if (signal != 0) {
      log_warn("stop requested (signal ", signal, ") at step ", step, ": checkpointing");
      save(step);
      result.exit_code = exit_code_for_signal(signal);
      break;
    }
    if (s.options.ckpt_every > 0 && step % s.options.ckpt_every == 0 && step < s.options.steps) save(step);
  }
  if (result.exit_code == 0 && step == s.options.steps) save(step);
  progress.finish();
  result.steps_done = step;
  return result;
}

}  // namespace trafficfm::core

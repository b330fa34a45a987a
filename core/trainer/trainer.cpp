#include "core/trainer/trainer.h"

#include <ATen/autocast_mode.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/loss_spike.h"
#include "core/metrics_writer.h"
#include "core/progress.h"
#include "core/stop_signals.h"
#include "core/trainer/parameter_count.h"
#include "core/trainer/step_sums.h"
#include "core/trainer/trainer_checkpoint.h"
#include "distributed/reducer.h"

namespace trafficfm::core {

using Clock = std::chrono::steady_clock;
using distributed::ReduceOp;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Buffers that a forward pass updates from its own rank's batch (BatchNorm running statistics)
// would differ per dp rank, while a checkpoint holds dp rank 0's: a resume would then hand every
// rank rank 0's. Averaged over dp after every step (as SyncBatchNorm's statistics would be), they
// are the same on every rank by construction, so the checkpoint holds every rank's state. In
// float64: n equal float32 values sum and divide back exactly, so buffers that already agree
// (constants, a selection score) stay bitwise unchanged.
void average_buffers_over_dp(const std::vector<torch::Tensor>& buffers, distributed::Communicator& dp) {
  if (dp.size() == 1 || buffers.empty()) return;
  std::vector<torch::Tensor> flat;
  for (const auto& b : buffers) flat.push_back(b.detach().reshape(-1).to(torch::kCPU, torch::kDouble));
  auto all = torch::cat(flat);
  dp.all_reduce(all, ReduceOp::kSum);
  all.div_(static_cast<double>(dp.size()));
  torch::NoGradGuard no_grad;
  std::int64_t at = 0;
  for (const auto& b : buffers) {
    b.copy_(all.narrow(0, at, b.numel()).view(b.sizes()));
    at += b.numel();
  }
}

// A resumed run continues metrics.jsonl after the checkpoint's step: lines of steps it will
// repeat (logged after that checkpoint by the interrupted run) are dropped.
void truncate_metrics_after(const std::string& path, std::uint64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (static_cast<std::uint64_t>(JsonValue::parse(line)["step"].as_int()) > step) continue;
    } catch (const std::exception&) {
      continue;  // a torn last line of a killed run
    }
    kept += line + "\n";
  }
  in.close();
  std::ofstream(path, std::ios::trunc) << kept;
}

// bf16 autocast on CUDA. LibTorch 2.4 names the device in the calls (the old names warn).
void set_cuda_bf16_autocast(bool enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(enabled);
#endif
}

// bf16 autocast on CUDA for the forward pass (a no-op on CPU).
struct AutocastScope {
  bool active;
  explicit AutocastScope(bool on) : active(on) {
    if (active) set_cuda_bf16_autocast(true);
  }
  ~AutocastScope() {
    if (!active) return;
    set_cuda_bf16_autocast(false);
    at::autocast::clear_cache();
  }
};

}  // namespace

struct Trainer::State {
  Task& task;
  datasets::Loader& loader;
  datasets::Loader* val;
  distributed::ProcessGrid& grid;
  TrainerOptions options;
  std::unique_ptr<distributed::Reducer> reducer;
  std::unique_ptr<TrainerOptimizer> optimizer;
  std::unique_ptr<TrainerCheckpoint> checkpoint;
  std::unique_ptr<MetricsWriter> metrics, eval_metrics;
  std::vector<torch::Tensor> rank_buffers;  // floating-point buffers of the checkpoint modules
  bool autocast = false;
  std::map<std::string, double> last_eval;  // the newest evaluation's terms, for summary.json
  std::uint64_t last_eval_step = 0;
  std::map<std::string, double> coefficients;  // Task::loss_terms(): empty, or counted terms
  State(Task& t, datasets::Loader& l, datasets::Loader* v, distributed::ProcessGrid& g, TrainerOptions o)
      : task(t), loader(l), val(v), grid(g), options(std::move(o)), coefficients(task.loss_terms()) {}

  // Each counted term's examples in one micro-batch (every term named; 0 in a filler batch).
  std::map<std::string, double> term_counts(const datasets::Batch& batch) {
    if (coefficients.empty()) return {};
    const auto given = task.term_weights(batch);
    std::map<std::string, double> counts;
    for (const auto& [term, coefficient] : coefficients) {
      const auto it = given.find(term);
      counts[term] = batch.filler || it == given.end() ? 0.0 : it->second;
    }
    return counts;
  }
  // The counts summed over the step's micro-batches and the dp ranks (one small all-reduce).
  std::map<std::string, double> total_counts(const std::vector<std::map<std::string, double>>& counts) {
    if (coefficients.empty()) return {};
    std::vector<double> sums(coefficients.size(), 0.0);
    for (const auto& micro : counts) {
      std::size_t i = 0;
      for (const auto& [term, coefficient] : coefficients) sums[i++] += micro.at(term);
    }
    auto t = torch::tensor(sums, torch::kDouble);
    if (grid.dp().size() > 1) grid.dp().all_reduce(t, ReduceOp::kSum);
    std::map<std::string, double> totals;
    std::size_t i = 0;
    for (const auto& [term, coefficient] : coefficients)
      totals[term] = t[static_cast<std::int64_t>(i++)].item<double>();
    return totals;
  }
  // The micro-batch's weight: Task::losses's, or the sum of its counts (a "weight" term is
  // dropped then).
  torch::Tensor micro_batch_weight(const datasets::Batch& batch, std::map<std::string, torch::Tensor>& losses,
                                   const std::map<std::string, double>& counts) {
    if (coefficients.empty()) return take_weight(batch, losses);
    losses.erase("weight");
    double sum = 0;
    for (const auto& [term, count] : counts) sum += count;
    return torch::tensor(sum, torch::kDouble).to(losses.at("loss").device());
  }
  // What one micro-batch backpropagates. The reducer sums over dp (loss_divided_by_dp). Plain:
  // weight * loss, the step dividing by the total weight in the optimizer step. Counted terms:
  // sum_t coefficient_t * count_t / total_t * term_t. Factors in the loss's precision (float
  // at least), as host scalars would be.
  torch::Tensor objective(const std::map<std::string, torch::Tensor>& losses, const torch::Tensor& weight,
                          const std::map<std::string, double>& counts,
                          const std::map<std::string, double>& totals) {
    const auto& loss = losses.at("loss");
    const auto type = loss.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
    if (coefficients.empty()) return loss * weight.to(type);
    // Every term takes part (a factor of 0 where it has no example), so that every parameter
    // the loss reaches gets a gradient on every rank, as the gradient sync expects.
    torch::Tensor sum;
    for (const auto& [term, coefficient] : coefficients) {
      const double total = totals.at(term);
      const double factor = total > 0 ? coefficient * counts.at(term) / total : 0.0;
      const auto it = losses.find(term);
      if (it == losses.end())
        throw std::logic_error("the task names the loss term '" + term +
                               "' in loss_terms() but losses() has none");
      const auto part = it->second * factor;
      sum = sum.defined() ? sum + part : part;
    }
    return sum;
  }
};

Trainer::Trainer(Task& task, datasets::Loader& train, datasets::Loader* val, distributed::ProcessGrid& grid,
                 TrainerOptions options)
    : state_(std::make_unique<State>(task, train, val, grid, std::move(options))) {
  State& s = *state_;
  torch::nn::Module& model = s.task.model();
  std::vector<distributed::NamedParameter> named;
  for (auto& p : model.named_parameters()) named.push_back({p.key(), p.value()});
  distributed::ReducerOptions reducer_options;
  reducer_options.bucket_bytes = s.options.bucket_bytes;
  reducer_options.find_unused = s.options.find_unused;
  reducer_options.shard_gradients = s.options.optimizer.zero;
  reducer_options.loss_divided_by_dp = true;  // see the loss weight in the step loop
  s.reducer = std::make_unique<distributed::Reducer>(named, s.grid.dp(), reducer_options);
  // Per parameter in the reducer's list, which holds a tied tensor once (one update, not two).
  std::vector<bool> decay, split;
  std::vector<double> lr_scale;
  const auto tp_params = distributed::tensor_parallel_parameters(model);
  for (const auto& p : s.reducer->parameters()) {
    // No decay on biases and norms (1-d) nor on what the task names (positions, tokens).
    decay.push_back(p.tensor.dim() >= 2 && !s.task.no_weight_decay(p.name));
    split.push_back(tp_params.is_split(p.tensor));
    lr_scale.push_back(s.task.lr_scale(p.name));
  }
  for (const auto& [prefix, module] : s.task.checkpoint_modules()) {
    for (const auto& b : module->named_buffers()) {
      if (b.value().is_floating_point()) s.rank_buffers.push_back(b.value());
    }
  }
  s.optimizer =
      std::make_unique<TrainerOptimizer>(*s.reducer, s.grid, decay, split, s.options.optimizer, lr_scale);
  std::int64_t unsharded = 0;  // two moments per parameter element, as plain AdamW keeps them
  for (const auto& p : s.reducer->parameters()) unsharded += 2 * p.tensor.numel() * p.tensor.element_size();
  log_info(
      "optimizer: ", s.options.optimizer.kind,
      s.options.optimizer.zero ? ", ZeRO-1 over dp " + std::to_string(s.grid.dp().size()) : std::string(),
      ": state ", s.optimizer->state_bytes(), " bytes per rank (unsharded AdamW: ", unsharded, ")");
  CheckpointSettings settings;
  settings.run_dir = s.options.out_dir;
  settings.keep_last = s.options.keep_last;
  settings.milestone_every = s.options.milestone_every;
  settings.async = s.options.ckpt_async;
  settings.config_ini = s.options.config_ini;
  s.checkpoint = std::make_unique<TrainerCheckpoint>(s.task, *s.optimizer, s.grid, settings);
  const auto first = model.parameters();
  s.autocast = !first.empty() && first.front().is_cuda();
}

Trainer::~Trainer() = default;

void Trainer::write_summary(const TrainerCounters& counters, const TrainResult& result, bool finished) {
  State& s = *state_;
  JsonObject val;
  for (const auto& [name, value] : s.last_eval) val.set(name, value);
  JsonObject summary;
  summary.set("finished", finished).set("exit_code", result.exit_code);
  summary.set("steps", counters.step).set("samples", counters.samples).set("tokens", counters.tokens);
  summary.set("flops", counters.flops);
  summary.set("parameters", count_parameters(s.task, s.grid.layout().tp).to_json());
  summary.set("final_loss", result.final_loss).set("skipped_steps", result.skipped_steps);
  summary.set("eval_step", s.last_eval_step).set("val", val);
  summary.set_raw("model", s.task.config_json());
  write_file_atomically(s.options.out_dir + "/summary.json", summary.str() + "\n");
}

void Trainer::evaluate(std::uint64_t step) {
  State& s = *state_;
  if (!s.val) return;
  auto& model = s.task.model();
  model.eval();
  torch::NoGradGuard no_grad;
  // The same val batches every time (from the start of the split), so evaluations compare.
  auto start = s.val->state();
  start.epoch = start.position = 0;
  s.val->restore(start);
  s.task.begin_eval();
  StepSums sums;
  const std::size_t batches =
      std::max<std::size_t>(1, std::min<std::size_t>(s.options.eval_batches, s.val->steps_per_epoch()));
  for (std::size_t b = 0; b < batches; ++b) {
    const auto batch = s.val->next();
    AutocastScope autocast(s.autocast);
    const auto counts = s.term_counts(batch);
    auto losses = s.task.losses(batch);
    sums.add(losses, s.micro_batch_weight(batch, losses, counts), counts);
  }
  model.train();
  sums.reduce(s.grid.dp(), s.coefficients);
  std::map<std::string, double> terms;
  for (const auto& [name, value] : sums.terms) terms["val_" + name] = value;
  for (const auto& [name, value] : s.task.end_eval(s.grid.dp())) terms["val_" + name] = value;
  s.task.after_eval(step, terms);
  s.last_eval = terms;
  s.last_eval_step = step;
  if (s.grid.layout().rank == 0) {
    JsonObject line;
    line.set("step", step);
    for (const auto& [name, value] : terms) line.set(name, value);
    s.eval_metrics->write(line);
    log_info("eval at step ", step, ": val_loss ", terms["val_loss"]);
  }
}

TrainResult Trainer::run() {
  State& s = *state_;
  TrainResult result;
  install_stop_handlers();
  std::filesystem::create_directories(s.options.out_dir);
  const auto& layout = s.grid.layout();
  const bool rank0 = layout.rank == 0;
  LossSpikeGuard spikes(s.options.spike_zscore, s.options.spike_window);
  TrainerCounters counters;
  const auto restore_started = Clock::now();
  if (s.options.resume && s.checkpoint->restore(counters)) {
    s.loader.restore(counters.loader);
    spikes.restore(counters.spike_history);
    log_info("resume: state restored in ", seconds_since(restore_started), " s");
  }
  result.resumed_from = counters.step;
  // The run's length and schedule are in its own unit: steps, or (a run defined in samples)
  // nominal samples, one global batch per step. A resume at another dp then ends after the same
  // number of samples, with the learning rate and the task's schedules where they were.
  const bool by_samples = s.options.samples > 0;
  const std::uint64_t unit =
      by_samples ? s.loader.batch_size() * static_cast<std::uint64_t>(layout.dp) * s.options.accumulation : 1;
  const std::uint64_t total = by_samples ? s.options.samples : s.options.steps;
  if (counters.position == kNoPosition) counters.position = counters.step * unit;  // an older checkpoint
  const std::uint64_t planned_steps =
      counters.step + (total - std::min(total, counters.position) + unit - 1) / unit;
  if (by_samples && counters.step > 0 && planned_steps != s.options.steps) {
    log_info("resume: ", total - std::min(total, counters.position), " samples left at ", unit,
             " per step: ", planned_steps, " steps in all");
  }
  if (rank0) {
    const std::string path = s.options.out_dir + "/metrics.jsonl";
    if (counters.step > 0) truncate_metrics_after(path, counters.step);
    s.metrics = std::make_unique<MetricsWriter>(path, /*truncate=*/counters.step == 0);
    const std::string eval_path = s.options.out_dir + "/eval.jsonl";
    if (counters.step > 0) truncate_metrics_after(eval_path, counters.step);
    s.eval_metrics = std::make_unique<MetricsWriter>(eval_path, /*truncate=*/counters.step == 0);
  }
  Progress progress("train", planned_steps, "steps");
  progress.advance(counters.step);
  std::size_t bad_in_a_row = 0;
  std::uint64_t saved_at = counters.step > 0 ? counters.step : UINT64_MAX;
  auto& model = s.task.model();
  model.train();
  const auto run_started = Clock::now();
  auto last_save = Clock::now();
  const std::uint64_t first_step = counters.step;
  std::map<std::string, double> terms;
  auto save = [&] {
    counters.loader = s.loader.state();
    counters.spike_history = spikes.history();
    s.checkpoint->save(counters);
    saved_at = counters.step;
    last_save = Clock::now();
  };
  while (counters.position < total) {
    const auto started = Clock::now();
    const std::uint64_t step = counters.step;
    s.task.begin_step(counters.position, total);
    const double lr = s.options.schedule.over(static_cast<double>(counters.position),
                                              static_cast<double>(counters.position + unit));
    // Zeroed in place, not set to none (LibTorch 2.x's default): the reducer's gradients are
    // views into its buckets, and a fresh .grad() would cost a copy back into them.
    model.zero_grad(/*set_to_none=*/false);
    double data_seconds = 0;
    StepSums sums;
    // The step's micro-batches first: a task with counted terms needs every count of the step,
    // summed over dp, before the first backward pass.
    std::vector<datasets::Batch> batches;
    const auto fetch = Clock::now();
    for (std::size_t micro = 0; micro < s.options.accumulation; ++micro) batches.push_back(s.loader.next());
    data_seconds += seconds_since(fetch);
    std::vector<std::map<std::string, double>> counts;
    for (const auto& batch : batches) counts.push_back(s.term_counts(batch));
    const auto totals = s.total_counts(counts);
    for (std::size_t micro = 0; micro < s.options.accumulation; ++micro) {
      s.reducer->set_sync(micro + 1 == s.options.accumulation);
      const auto& batch = batches[micro];
      std::map<std::string, torch::Tensor> losses;
      {
        AutocastScope autocast(s.autocast);
        losses = s.task.losses(batch);
      }
      const auto weight = s.micro_batch_weight(batch, losses, counts[micro]);
      s.objective(losses, weight, counts[micro], totals).backward();
      s.reducer->finish();
      sums.add(losses, weight, counts[micro]);
      sums.flops += s.task.batch_flops(batch);
      sums.tokens += s.task.batch_tokens(batch);
      if (!batch.filler) sums.samples += static_cast<double>(batch.rows);
    }
    s.optimizer->sync_replicated_gradients();
    sums.reduce(s.grid.dp(), s.coefficients);
    terms = sums.terms;
    // Counted terms are divided by their totals in the objective; otherwise the gradient is
    // divided by the step's total weight here.
    const double grad_scale = sums.weight > 0 ? (s.coefficients.empty() ? 1.0 / sums.weight : 1.0) : 0.0;
    const double norm = s.optimizer->grad_norm() * grad_scale;
    // Every rank takes the same decision (the loss is the dp average; the flags are agreed).
    const bool nonfinite = !std::isfinite(terms["loss"]) || !std::isfinite(norm);
    const bool spike = !nonfinite && spikes.is_spike(terms["loss"]);
    auto flags = torch::tensor({nonfinite ? 1.0 : 0.0, spike ? 1.0 : 0.0}, torch::kDouble);
    s.grid.world().all_reduce(flags, ReduceOp::kMax);
    if (flags[0].item<double>() > 0) {
      ++counters.skipped_nonfinite;
      log_warn("step ", step, ": non-finite loss or gradient, update skipped (", ++bad_in_a_row,
               " in a row)");
      if (bad_in_a_row >= s.options.max_bad_steps) {
        log_error("stopping: ", bad_in_a_row,
                  " non-finite steps in a row; the newest checkpoint is from before them");
        result.exit_code = 1;
        break;
      }
    } else if (sums.weight <= 0) {
      // Nothing in the global batch carried weight (a generation batch of one-packet flows):
      // no gradient, and no update (the moments alone would still move the weights).
      log_warn("step ", step, ": the batch has no loss weight on any rank, update skipped");
    } else if (flags[1].item<double>() > 0) {
      ++counters.skipped_spikes;
      log_warn("step ", step, ": loss ", terms["loss"], " is a spike (z > ", s.options.spike_zscore,
               "), update skipped");
    } else {
      bad_in_a_row = 0;
      s.optimizer->step(lr, norm, grad_scale);
      s.task.end_step();
    }
    average_buffers_over_dp(s.rank_buffers, s.grid.dp());
    counters.step = step + 1;
    counters.position += unit;
    const bool last = counters.position >= total;
    const auto global_samples = static_cast<std::uint64_t>(sums.samples);
    counters.samples += global_samples;
    counters.tokens += sums.tokens;
    counters.flops += sums.flops;
    const double seconds = seconds_since(started);
    if (rank0 && (counters.step % s.options.log_every == 0 || last)) {
      JsonObject line;
      line.set("step", counters.step);
      for (const auto& [name, value] : terms) line.set(name, value);
      line.set("lr", lr).set("grad_norm", norm).set("step_time_s", seconds).set("data_time_s", data_seconds);
      line.set("samples_per_s", global_samples / seconds);
      if (sums.tokens > 0) line.set("tokens_per_s", sums.tokens / seconds);
      if (sums.flops > 0) {
        const double flops = sums.flops / seconds;
        line.set("model_flops_per_s", flops);
        if (s.options.peak_flops_per_rank > 0)
          line.set("mfu", flops / (s.options.peak_flops_per_rank * layout.world));
      }
      // Cumulative: what the run has consumed and spent so far (scaling-law sweeps read them).
      line.set("samples", counters.samples).set("tokens", counters.tokens).set("flops", counters.flops);
      line.set("peak_rss_mb", peak_rss_mb());
      line.set("skipped", counters.skipped_nonfinite + counters.skipped_spikes);
      s.metrics->write(line);
    }
    progress.advance();
    if (s.val && s.options.eval_every > 0 && counters.step % s.options.eval_every == 0)
      evaluate(counters.step);
    // Stop signals and the time-based checkpoint clock are agreed at the step boundary.
    const bool time_due =
        s.options.ckpt_minutes > 0 && seconds_since(last_save) >= 60.0 * s.options.ckpt_minutes;
    auto boundary =
        torch::tensor({static_cast<double>(stop_signal()), time_due && rank0 ? 1.0 : 0.0}, torch::kDouble);
    s.grid.world().all_reduce(boundary, ReduceOp::kMax);
    const int signal = static_cast<int>(boundary[0].item<double>());
    if (signal != 0) {
      log_warn("stop requested (signal ", signal, ") at step ", counters.step, ": checkpointing");
      save();
      result.exit_code = exit_code_for_signal(signal);
      break;
    }
    const bool step_due = s.options.ckpt_every > 0 && counters.step % s.options.ckpt_every == 0;
    if ((step_due || boundary[1].item<double>() > 0) && !last) save();
  }
  if (result.exit_code == 0 && counters.position >= total && saved_at != counters.step) save();
  s.checkpoint->flush();
  if (result.exit_code == 0 && s.val &&
      (s.options.eval_every == 0 || counters.step % s.options.eval_every != 0)) {
    evaluate(counters.step);
  }
  progress.finish();
  result.steps_done = counters.step;
  result.skipped_steps = counters.skipped_nonfinite + counters.skipped_spikes;
  result.final_loss = terms.count("loss") ? terms["loss"] : 0.0;
  const double elapsed = seconds_since(run_started);
  log_info("train: ", counters.step - first_step, " steps in ", elapsed, " s (",
           (counters.step - first_step) / std::max(elapsed, 1e-9), " steps/s), final loss ",
           result.final_loss, ", skipped ", result.skipped_steps, ", samples seen ", counters.samples,
           ", FLOPs spent ", counters.flops);
  if (rank0) {
    write_summary(counters, result, /*finished=*/result.exit_code == 0 && counters.position >= total);
  }
  return result;
}

}  // namespace trafficfm::core

// The training loop every model uses: AdamW (plain or ZeRO-1; no decay on biases, norms and
// what the task names), warmup + decay schedule, gradient accumulation with data-parallel sync
// on the last micro-batch, global gradient clipping over dp x tp, non-finite and loss-spike
// guards, evaluation on the val split, JSON-lines metrics and progress on rank 0, periodic
// (step- and time-based, optionally asynchronous) checkpoints any layout can load, exact
// resume, and graceful stops on signals. Each metrics line carries the cumulative samples,
// tokens and FLOPs; RUN/summary.json says at the end what the run consumed and reached.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/lr_schedule.h"
#include "core/trainer/optimizer.h"
#include "core/trainer/task.h"
#include "datasets/loader/loader.h"
#include "distributed/process_grid.h"

namespace trafficfm::core {

struct TrainerCounters;  // trainer_checkpoint.h

struct TrainerOptions {
  std::string out_dir;
  std::uint64_t steps = 100;
  // > 0: the run is defined in samples: it ends after this many (one global batch of
  // dp x batch x accumulation per step) and `schedule` counts samples; `steps` is then only the
  // estimate for this layout. A resume at another dp keeps the length and the schedule.
  std::uint64_t samples = 0;
  std::size_t accumulation = 1;  // micro-batches per optimizer step
  LrSchedule schedule;
  OptimizerOptions optimizer;
  std::size_t bucket_bytes = 25u << 20;  // gradient-sync bucket size
  bool find_unused = false;              // parameters without a gradient contribute zeros
  std::uint64_t log_every = 10;
  std::uint64_t eval_every = 0;   // 0: only at the end (when a val loader is given)
  std::size_t eval_batches = 20;  // val batches per evaluation (per dp rank)
  std::uint64_t ckpt_every = 0;   // 0: only at the end and on a stop
  double ckpt_minutes = 0;        // 0: off; else also every M minutes of training
  bool ckpt_async = false;
  std::size_t keep_last = 3;
  std::uint64_t milestone_every = 0;
  std::size_t max_bad_steps = 5;  // non-finite loss or gradient this many times in a row stops
  double spike_zscore = 0;        // 0: off; else skip steps whose loss is this many sigma high
  std::size_t spike_window = 100;
  bool resume = false;             // --resume auto: continue from the newest valid checkpoint
  double peak_flops_per_rank = 0;  // for MFU; 0: unknown (MFU not reported)
  std::string config_ini;          // recorded in every checkpoint's meta.json
};

struct TrainResult {
  std::uint64_t steps_done = 0;     // optimizer steps completed in total (including before a resume)
  std::uint64_t resumed_from = 0;   // 0: fresh start
  std::uint64_t skipped_steps = 0;  // guards (non-finite and spikes)
  double final_loss = 0;
  int exit_code = 0;  // 0, 1 (guard stop), or the stop signal's code (core/stop_signals.h)
};

class Trainer {
 public:
  // `val` may be null (no evaluation).
  Trainer(Task& task, datasets::Loader& train, datasets::Loader* val, distributed::ProcessGrid& grid,
          TrainerOptions options);
  ~Trainer();
  TrainResult run();

 private:
  struct State;
  void evaluate(std::uint64_t step);
  // RUN/summary.json (rank 0): whether the run reached its end, what it consumed and spent,
  // its parameter counts and the newest evaluation.
  void write_summary(const TrainerCounters& counters, const TrainResult& result, bool finished);
  std::unique_ptr<State> state_;
};

}  // namespace trafficfm::core

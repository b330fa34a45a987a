// The training loop every model uses: AdamW (no decay on biases and norms), warmup + decay
// schedule, gradient accumulation with data-parallel sync on the last micro-batch, global
// gradient clipping, non-finite guards, JSON-lines metrics and progress on rank 0, periodic
// checkpoints through CheckpointStore, exact resume, and graceful stops on signals.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/lr_schedule.h"
#include "core/trainer/task.h"
#include "datasets/loader/loader.h"
#include "distributed/process_grid.h"

namespace trafficfm::core {

struct TrainerOptions {
  std::string out_dir;
  std::uint64_t steps = 100;
  std::size_t accumulation = 1;  // micro-batches per optimizer step
  LrSchedule schedule;
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip_norm = 1.0;        // 0: no clipping
  std::uint64_t log_every = 10;
  std::uint64_t ckpt_every = 0;  // 0: only at the end and on a stop
  std::size_t keep_last = 3;
  std::uint64_t milestone_every = 0;
  std::size_t max_bad_steps = 5;  // non-finite loss or gradient this many times in a row stops
  bool resume = false;            // --resume auto: continue from the newest valid checkpoint
  std::uint64_t seed = 0;
};

struct TrainResult {
  std::uint64_t steps_done = 0;     // optimizer steps completed in total (including before a resume)
  std::uint64_t resumed_from = 0;   // 0: fresh start
  std::uint64_t skipped_steps = 0;  // non-finite guard
  int exit_code = 0;                // 0, or the stop signal's code (core/stop_signals.h)
};

class Trainer {
 public:
  Trainer(Task& task, datasets::Loader& loader, distributed::ProcessGrid& grid, TrainerOptions options);
  ~Trainer();
  TrainResult run();

 private:
  struct State;
  void save(std::uint64_t step);
  std::uint64_t restore();
  std::unique_ptr<State> state_;
};

}  // namespace trafficfm::core

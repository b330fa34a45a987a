// What the trainer puts into a checkpoint and how it reads it back, on top of CheckpointStore's
// protocol (parts, meta.json with hashes, COMMIT, latest):
//
//   model.pt      rank 0: every tensor of the task's checkpoint modules, whole (gathered over
//                 tp), as a pickled dict name -> tensor that Python's torch.load opens
//   optim.pt      rank 0: AdamW moments per parameter, whole (gathered over tp and, under
//                 ZeRO-1, over dp), and the step count
//   rank-R.pt     every rank: its RNG states (CPU, and CUDA where used)
//   trainer.json  rank 0: step, schedule position, samples and tokens seen, guard counters,
//                 the loader position (global, so any dp size continues the epoch exactly) with
//                 the corpus fingerprint and loader settings that define the order
//
// Because tensors are stored whole, a checkpoint loads at any tp and dp: each rank takes its
// slice (resharding is a slice). Saving gathers to rank 0, which is right for models up to a
// few GB per checkpoint; the per-rank RNG states apply when the layout is the same.
// Parts are serialized straight into their files (no staging buffer) and hashed on the way.
// With `async`, the tensors are copied on the training thread and serialized and written by a
// background thread; the commit follows at the next save, stop or end of the run.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/checkpoint_store.h"
#include "core/trainer/optimizer.h"
#include "core/trainer/task.h"
#include "datasets/loader/loader.h"
#include "distributed/process_grid.h"

namespace trafficfm::core {

// A checkpoint written before the schedule position was recorded.
constexpr std::uint64_t kNoPosition = UINT64_MAX;

struct TrainerCounters {
  std::uint64_t step = 0;
  // Where the schedule stands, in the run's unit: steps, or nominal samples for a run defined
  // in samples (TrainerOptions::samples).
  std::uint64_t position = 0;
  std::uint64_t samples = 0;  // global samples consumed
  double tokens = 0;          // global tokens consumed
  double flops = 0;           // training FLOPs spent (the task's count; 0 from a checkpoint older than it)
  std::uint64_t skipped_nonfinite = 0, skipped_spikes = 0;
  std::vector<double> spike_history;
  datasets::LoaderState loader;
};

struct CheckpointSettings {
  std::string run_dir;
  std::size_t keep_last = 3;
  std::uint64_t milestone_every = 0;
  bool async = false;
  std::string config_ini;  // the run's resolved options, recorded in meta.json
};

class TrainerCheckpoint {
 public:
  TrainerCheckpoint(Task& task, TrainerOptimizer& optimizer, distributed::ProcessGrid& grid,
                    CheckpointSettings settings);
  ~TrainerCheckpoint();
  // Collective. Writes (or, with async, starts writing) the checkpoint of `counters.step`.
  void save(const TrainerCounters& counters);
  // Collective. Waits for a pending asynchronous write and commits it.
  void flush();
  // Collective. Loads the newest valid checkpoint into the task, the optimizer and `counters`;
  // false (nothing changed) when there is none.
  bool restore(TrainerCounters& counters);
  const CheckpointStore& store() const { return store_; }

 private:
  using PartWriter = std::function<void(const ByteSink&)>;  // streams one part's bytes
  void write_parts(std::uint64_t step, std::vector<std::pair<std::string, PartWriter>> parts);
  Task& task_;
  TrainerOptimizer& optimizer_;
  distributed::ProcessGrid& grid_;
  CheckpointSettings settings_;
  CheckpointStore store_;
  std::thread writer_;
  std::string writer_error_;
  std::uint64_t pending_step_ = 0;
  std::vector<std::string> pending_parts_;
  std::string pending_meta_;
  double pending_bytes_ = 0;  // this rank's, for the log line
  std::chrono::steady_clock::time_point save_started_;
  double serialize_seconds_ = 0;  // phases of the last save, for the log line: gather (+ copy)
  double write_seconds_ = 0;
  std::map<std::string, std::string> written_sha256_;  // this rank's parts of the pending save
};

// A pickled dict name -> tensor (the format torch.save writes and torch.load reads).
// torch.save's zip format, streamed to `sink`; pickle_tensors collects it in memory.
void pickle_tensors_to(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const ByteSink& sink);
std::vector<char> pickle_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
std::vector<std::pair<std::string, torch::Tensor>> unpickle_tensors(const std::string& bytes,
                                                                    const std::string& what);

}  // namespace trafficfm::core

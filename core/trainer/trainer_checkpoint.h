// What the trainer puts into a checkpoint and how it reads it back, on top of CheckpointStore's
// protocol (parts, meta.json with hashes, COMMIT, latest). Format 2 (checkpoint_parts.h): every
// rank writes its own parts in parallel: dp rank 0 of each tp rank its model shards
// (model-tpK.pt), under ZeRO-1 every rank its moment slices (optim-dpJ-tpK.pt; plain AdamW: dp
// rank 0 of each tp rank, optim-tpK.pt), rank 0 trainer.json (step, schedule position, samples,
// tokens and FLOPs seen, guard counters, the loader position with the corpus and order
// fingerprints), every rank its RNG states (rank-R.pt). The parts' hashes travel to rank 0 in one
// collective, which writes meta.json (the layout, each tensor's split dimension, the ZeRO buckets)
// and COMMIT without reading a part back.
// A resume at the same layout reads only the rank's own parts; at another tp a rank joins the
// saved shards along their split dimension and takes its slice; at another dp the ZeRO slices of
// its tp rank are joined into buckets and re-sliced. Each part read is checked against meta.json;
// a checkpoint a rank cannot read is skipped by every rank for an older one. Format 1 (whole
// tensors in model.pt and optim.pt, gathered to rank 0) still loads.
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
#include "core/trainer/tensor_pickle.h"
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
  // Reads checkpoint `step` into the task, the optimizer and `counters`; throws when a part this
  // rank needs is missing or does not match meta.json (restore then tries an older one).
  void load(std::uint64_t step, TrainerCounters& counters);
  Task& task_;
  TrainerOptimizer& optimizer_;
  distributed::ProcessGrid& grid_;
  CheckpointSettings settings_;
  CheckpointStore store_;
  std::thread writer_;
  std::string writer_error_;
  std::uint64_t pending_step_ = 0;
  bool save_pending_ = false;  // parts are being written; flush() commits them
  std::string pending_meta_;
  double pending_bytes_ = 0;  // this rank's, for the log line
  std::chrono::steady_clock::time_point save_started_;
  double serialize_seconds_ = 0;  // phases of the last save, for the log line: gather (+ copy)
  double write_seconds_ = 0;
  std::map<std::string, std::string> written_sha256_;  // this rank's parts of the pending save
};

}  // namespace trafficfm::core

// The parts of a sharded checkpoint (format 2) and how full tensors come back from them.
//
//   model-tpK.pt          dp rank 0 of tp rank K: its shards of every tensor of the task's
//                         checkpoint modules, as it holds them (a padded vocabulary's padding rows
//                         included), replicated tensors too: a rank that resumes at the same layout
//                         reads its own part only
//   optim-tpK.pt          plain AdamW: dp rank 0 of tp rank K, its moments ("<param>.exp_avg",
//                         "<param>.exp_avg_sq") and "step"
//   optim-dpJ-tpK.pt      ZeRO-1: every rank, its slices of the moments of each bucket
//                         ("bucket.B.exp_avg", "bucket.B.exp_avg_sq") and "step"
//   trainer.json, rank-R.pt as in format 1 (trainer_checkpoint.h)
//
// meta.json adds "format": 2, the layout (dp, tp, zero), each model tensor's split dimension and
// real rows at that layout ("tensors"), and under ZeRO-1 the buckets' layout ("zero_buckets":
// per bucket its padded size and its parameters' names, offsets and sizes; the same on every
// tp rank). So every rank writes its own parts in parallel (no gather to rank 0), and a rank
// reading at another layout joins the shards it needs along their split dimension.
// Format 1 checkpoints (whole tensors in model.pt and optim.pt, written by rank 0) still load.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/json_value.h"

namespace trafficfm::core {

constexpr int kCheckpointFormat = 2;

std::string model_part(int tp_rank);
std::string optim_part(int tp_rank);                    // plain AdamW
std::string zero_optim_part(int dp_rank, int tp_rank);  // ZeRO-1

struct SavedTensor {
  int split_dim = -1;      // at the saving layout; -1: replicated (or tp was 1)
  std::int64_t rows = -1;  // real rows of a padded vocabulary; -1: none
};

struct BucketEntry {
  std::string name;
  std::int64_t offset = 0, numel = 0;
};
struct SavedBucket {
  std::int64_t numel = 0;  // padded to a multiple of dp
  std::vector<BucketEntry> parameters;
};

// What meta.json says about a checkpoint's layout and tensors.
struct CheckpointLayout {
  int format = 1;
  int dp = 1, tp = 1;
  bool zero = false;
  std::map<std::string, SavedTensor> tensors;  // format 2: every model tensor
  std::vector<SavedBucket> buckets;            // format 2 with ZeRO-1
  static CheckpointLayout from_meta(const JsonValue& meta);
  // The fields format 2 adds to meta.json.
  void add_to(JsonObject& meta) const;
};

// A full tensor (a padded vocabulary's padding rows dropped) from its shards at the saving
// layout, in tp-rank order.
torch::Tensor join_shards(const std::vector<torch::Tensor>& shards, const SavedTensor& saved);

// Reads a part of a committed checkpoint and checks it against meta.json's SHA-256; throws
// naming the file on a mismatch or a missing entry.
std::string read_checked_part(const std::string& dir, const JsonValue& meta, const std::string& name);

// Every model tensor of a committed checkpoint, whole (what format 1's model.pt held): format
// 2's model parts joined. Each part read is checked against meta.json.
std::vector<std::pair<std::string, torch::Tensor>> read_full_model(const std::string& dir);

}  // namespace trafficfm::core

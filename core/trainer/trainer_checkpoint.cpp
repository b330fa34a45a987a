#include "core/trainer/trainer_checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/version.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>

#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/trainer/checkpoint_parts.h"
#include "core/trainer/parameter_count.h"
#include "distributed/tensor_parallel_state.h"

namespace trafficfm::core {

using distributed::ReduceOp;

namespace {

std::string prefixed(const std::string& prefix) { return prefix.empty() ? "" : prefix + "."; }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool cuda_rng_in_use() { return torch::cuda::is_available(); }

std::vector<std::pair<std::string, torch::Tensor>> rng_states() {
  std::vector<std::pair<std::string, torch::Tensor>> out = {
      {"rng.cpu", at::detail::getDefaultCPUGenerator().get_state()}};
  if (cuda_rng_in_use())
    out.emplace_back("rng.cuda", at::globalContext().defaultGenerator(at::Device(at::kCUDA)).get_state());
  return out;
}

// Fault injection for the tests: TRAFFICFM_FAULT_KILL_IN_CHECKPOINT=RANK:STEP makes that rank
// die by SIGKILL after writing its parts of that step's checkpoint, before the commit: what a
// node failure or an OOM kill in the middle of a save looks like to the other ranks.
void die_here_if_asked(int rank, std::uint64_t step) {
  const char* fault = std::getenv("TRAFFICFM_FAULT_KILL_IN_CHECKPOINT");
  if (fault && std::string(fault) == std::to_string(rank) + ":" + std::to_string(step)) std::raise(SIGKILL);
}

// Every rank's string, in rank order, on every rank (a collective over `c`): bytes padded to the
// longest, all-gathered.
std::vector<std::string> gather_strings(distributed::Communicator& c, const std::string& mine) {
  auto length = torch::tensor({static_cast<double>(mine.size())}, torch::kDouble);
  c.all_reduce(length, ReduceOp::kMax);
  const auto width = static_cast<std::int64_t>(length.item<double>());
  auto local = torch::zeros({width}, torch::kByte);
  std::memcpy(local.data_ptr<std::uint8_t>(), mine.data(), mine.size());
  auto all = torch::zeros({width * c.size()}, torch::kByte);
  c.all_gather(local, all);
  std::vector<std::string> out;
  const char* bytes = reinterpret_cast<const char*>(all.data_ptr<std::uint8_t>());
  for (int r = 0; r < c.size(); ++r) {
    std::string s(bytes + r * width, static_cast<std::size_t>(width));
    out.push_back(s.substr(0, s.find('\0')));
  }
  return out;
}

// ZeRO-1 optimizer parts name a bucket's moment slices "bucket.B.exp_avg" and "bucket.B.exp_avg_sq".
std::string bucket_moment(std::size_t bucket, bool second) {
  return "bucket." + std::to_string(bucket) + (second ? ".exp_avg_sq" : ".exp_avg");
}
// The bucket of such a name, and whether it is the second moment.
std::pair<std::size_t, bool> parse_bucket_moment(const std::string& name) {
  const auto dot = name.find('.', 7);
  return {static_cast<std::size_t>(std::stoul(name.substr(7, dot - 7))),
          name.substr(dot + 1) == "exp_avg_sq"};
}

}  // namespace

TrainerCheckpoint::TrainerCheckpoint(Task& task, TrainerOptimizer& optimizer, distributed::ProcessGrid& grid,
                                     CheckpointSettings settings)
    : task_(task),
      optimizer_(optimizer),
      grid_(grid),
      settings_(std::move(settings)),
      store_(settings_.run_dir) {}

TrainerCheckpoint::~TrainerCheckpoint() {
  if (writer_.joinable()) writer_.join();  // the commit needs every rank: an unflushed save stays uncommitted
}

void TrainerCheckpoint::save(const TrainerCounters& counters) {
  flush();
  save_started_ = std::chrono::steady_clock::now();
  const auto& layout = grid_.layout();
  const bool rank0 = layout.rank == 0;
  std::vector<std::pair<std::string, PartWriter>> parts;
  CheckpointLayout saved;
  saved.format = kCheckpointFormat;
  saved.dp = layout.dp;
  saved.tp = layout.tp;
  saved.zero = optimizer_.zero();

  // The model: dp rank 0 of every tp rank writes its own shards, in parallel (checkpoint_parts.h).
  std::vector<std::pair<std::string, torch::Tensor>> model_tensors;
  for (const auto& [prefix, module] : task_.checkpoint_modules()) {
    for (const auto& t : distributed::sharded_tensors(*module, prefixed(prefix))) {
      saved.tensors[t.name] = {t.split_dim, t.rows};
      if (layout.dp_rank == 0) model_tensors.emplace_back(t.name, t.tensor.detach());
    }
  }
  // The optimizer: under ZeRO-1 every rank its moment slices; plain, dp rank 0 of each tp rank.
  std::vector<std::pair<std::string, torch::Tensor>> optim_tensors;
  std::string optim_name;
  if (optimizer_.zero()) {
    optim_name = zero_optim_part(layout.dp_rank, layout.tp_rank);
    const auto slices = optimizer_.zero_slices();
    for (std::size_t b = 0; b < slices.size(); ++b) {
      optim_tensors.emplace_back(bucket_moment(b, false), slices[b].first);
      optim_tensors.emplace_back(bucket_moment(b, true), slices[b].second);
    }
    const auto& reducer = optimizer_.reducer();
    for (std::size_t b = 0; b < reducer.buckets(); ++b) {
      SavedBucket bucket;
      bucket.numel = reducer.bucket_numel(b);
      for (std::size_t k : reducer.bucket_parameters(b)) {
        bucket.parameters.push_back({reducer.parameters()[k].name, reducer.parameter_offset(k),
                                     reducer.parameters()[k].tensor.numel()});
      }
      saved.buckets.push_back(bucket);
    }
  } else if (layout.dp_rank == 0) {
    optim_name = optim_part(layout.tp_rank);
    for (auto& [name, tensor] : optimizer_.state()) optim_tensors.emplace_back(name, tensor);
  }
  if (!optim_name.empty())
    optim_tensors.emplace_back("step", torch::tensor({optimizer_.step_count()}, torch::kLong));
  // Serialized while written (no staging copy). An async save copies the tensors here, on the
  // training thread, because training goes on changing them while the writer runs.
  if (settings_.async) {
    for (auto* list : {&model_tensors, &optim_tensors}) {
      for (auto& entry : *list) entry.second = entry.second.detach().to(torch::kCPU, false, /*copy=*/true);
    }
  }
  if (layout.dp_rank == 0) {
    parts.emplace_back(
        model_part(layout.tp_rank),
        [tensors = std::move(model_tensors)](const ByteSink& sink) { pickle_tensors_to(tensors, sink); });
  }
  if (!optim_name.empty()) {
    parts.emplace_back(optim_name, [tensors = std::move(optim_tensors)](const ByteSink& sink) {
      pickle_tensors_to(tensors, sink);
    });
  }
  if (rank0) {
    JsonObject state;
    state.set("step", counters.step).set("position", counters.position);
    state.set("samples", counters.samples).set("tokens", counters.tokens).set("flops", counters.flops);
    state.set("skipped_nonfinite", counters.skipped_nonfinite).set("skipped_spikes", counters.skipped_spikes);
    state.set("spike_history", counters.spike_history);
    state.set_raw("loader", counters.loader.to_json());
    parts.emplace_back("trainer.json",
                       [json = state.str()](const ByteSink& sink) { sink(json.data(), json.size()); });
  }
  parts.emplace_back(
      "rank-" + std::to_string(layout.rank) + ".pt",
      [rng = pickle_tensors(rng_states())](const ByteSink& sink) { sink(rng.data(), rng.size()); });

  save_pending_ = true;
  JsonObject meta;
  meta.set("step", counters.step).set("samples", counters.samples).set("tokens", counters.tokens);
  meta.set("flops", counters.flops);
  meta.set("parameters", count_parameters(task_, layout.tp).to_json());
  meta.set("layout", JsonObject().set("world", layout.world).set("dp", layout.dp).set("tp", layout.tp));
  meta.set("zero", optimizer_.zero());
  meta.set("optimizer", optimizer_.kind());
  meta.set("torch", std::string(TORCH_VERSION));
  meta.set_raw("model", task_.config_json());
  meta.set("config", settings_.config_ini);
  saved.add_to(meta);
  pending_meta_ = meta.str();
  pending_step_ = counters.step;
  serialize_seconds_ = seconds_since(save_started_);
  if (settings_.async) {
    writer_ = std::thread([this, step = counters.step, parts = std::move(parts)]() mutable {
      try {
        write_parts(step, std::move(parts));
      } catch (const std::exception& e) {
        writer_error_ = e.what();
      }
    });
  } else {
    write_parts(counters.step, std::move(parts));
    die_here_if_asked(layout.rank, counters.step);
    flush();
  }
}

void TrainerCheckpoint::write_parts(std::uint64_t step,
                                    std::vector<std::pair<std::string, PartWriter>> parts) {
  const auto started = std::chrono::steady_clock::now();
  written_sha256_.clear();
  pending_bytes_ = 0;
  for (const auto& [name, produce] : parts) {
    const auto written = store_.write_part(step, name, produce);
    written_sha256_[name] = written.sha256;
    pending_bytes_ += static_cast<double>(written.bytes);
  }
  write_seconds_ = seconds_since(started);
}

void TrainerCheckpoint::flush() {
  if (!save_pending_) return;
  if (writer_.joinable()) writer_.join();
  // Every rank must know whether every part was written before rank 0 commits.
  auto failed = torch::tensor({writer_error_.empty() ? 0.0 : 1.0}, torch::kDouble);
  grid_.world().all_reduce(failed, ReduceOp::kMax);
  const std::uint64_t step = pending_step_;
  save_pending_ = false;
  if (failed.item<double>() > 0) {
    const std::string error = writer_error_.empty() ? "another rank failed to write its part" : writer_error_;
    writer_error_.clear();
    throw std::runtime_error("checkpoint of step " + std::to_string(step) + " not committed: " + error);
  }
  // Every rank's parts and their hashes go to rank 0, which commits them: no part is read back.
  JsonObject mine;
  for (const auto& [name, sha256] : written_sha256_) mine.set(name, sha256);
  auto bytes = torch::tensor({pending_bytes_}, torch::kDouble);
  grid_.world().all_reduce(bytes, ReduceOp::kSum);
  const auto everyone = gather_strings(grid_.world(), mine.str());
  if (grid_.layout().rank == 0) {
    std::vector<std::string> parts;
    std::map<std::string, std::string> sha256;
    for (const auto& text : everyone) {
      const JsonValue written = JsonValue::parse(text);  // named: the loop below holds a reference into it
      for (const auto& [name, value] : written.as_object()) {
        parts.push_back(name);
        sha256[name] = value.as_string();
      }
    }
    const auto commit_started = std::chrono::steady_clock::now();
    store_.commit(step, parts, pending_meta_, sha256);
    store_.apply_retention(settings_.keep_last, settings_.milestone_every);
    const double commit_seconds = seconds_since(commit_started);
    const double seconds = seconds_since(save_started_);
    const double total = bytes.item<double>();
    log_info("checkpoint: step ", step, " -> ", store_.step_dir(step), " (", parts.size(), " parts, ",
             total / 1e6, " MB from ", grid_.layout().world, " rank(s), rank 0 wrote ", pending_bytes_ / 1e6,
             " MB; ", seconds, " s from save to commit: collect ", serialize_seconds_,
             " s, serialize+write+hash ", write_seconds_, " s, commit ", commit_seconds, " s; ",
             total / 1e6 / seconds, " MB/s)");
  }
  grid_.world().barrier();
}

bool TrainerCheckpoint::restore(TrainerCounters& counters) {
  // Rank 0 lists the committed checkpoints whose parts are all there, newest first (sizes only,
  // no hashing); every rank reads, and checks against meta.json's hashes, the parts it needs of
  // the newest. One that a rank cannot read is skipped by every rank for the next.
  std::vector<std::uint64_t> steps;
  if (grid_.layout().rank == 0) {
    std::vector<std::string> warnings;
    steps = store_.committed_candidates(&warnings);
    for (const auto& w : warnings) log_warn("resume: ", w);
  }
  auto count = torch::tensor({static_cast<double>(steps.size())}, torch::kDouble);
  grid_.world().broadcast(count, 0);
  auto list = torch::zeros({static_cast<std::int64_t>(count.item<double>())}, torch::kDouble);
  for (std::size_t i = 0; i < steps.size(); ++i)
    list[static_cast<std::int64_t>(i)] = static_cast<double>(steps[i]);
  if (list.numel() > 0) grid_.world().broadcast(list, 0);
  for (std::int64_t i = 0; i < list.numel(); ++i) {
    const auto step = static_cast<std::uint64_t>(list[i].item<double>());
    std::string error;
    try {
      load(step, counters);
    } catch (const std::exception& e) {
      error = e.what();
      log_warn("resume: ", store_.step_dir(step), " cannot be read here: ", error);
    }
    auto bad = torch::tensor({error.empty() ? 0.0 : 1.0}, torch::kDouble);
    grid_.world().all_reduce(bad, ReduceOp::kMax);
    if (bad.item<double>() == 0) {
      log_info("resume: continuing from ", store_.step_dir(step), " (step ", step, ")");
      return true;
    }
    log_warn("resume: ", store_.step_dir(step), " skipped (a rank could not read it); trying an older one");
  }
  log_info("resume: no valid checkpoint in ", store_.root(), "; starting fresh");
  return false;
}

namespace {
// Whether the ZeRO-1 buckets a checkpoint recorded are this reducer's (the slices then load as is).
bool same_buckets(const std::vector<SavedBucket>& saved, const distributed::Reducer& reducer) {
  if (saved.size() != reducer.buckets()) return false;
  for (std::size_t b = 0; b < saved.size(); ++b) {
    const auto& params = reducer.bucket_parameters(b);
    if (saved[b].numel != reducer.bucket_numel(b) || saved[b].parameters.size() != params.size())
      return false;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& entry = saved[b].parameters[i];
      if (entry.name != reducer.parameters()[params[i]].name ||
          entry.offset != reducer.parameter_offset(params[i]) ||
          entry.numel != reducer.parameters()[params[i]].tensor.numel())
        return false;
    }
  }
  return true;
}
}  // namespace

void TrainerCheckpoint::load(std::uint64_t step, TrainerCounters& counters) {
  const auto& layout = grid_.layout();
  const std::string dir = store_.step_dir(step);
  const JsonValue meta = JsonValue::parse(store_.read_part(dir, "meta.json"));
  const CheckpointLayout saved = CheckpointLayout::from_meta(meta);
  auto part = [&](const std::string& name) {
    log_debug("resume: reading ", dir, "/", name);
    return unpickle_tensors(read_checked_part(dir, meta, name), dir + "/" + name);
  };
  torch::NoGradGuard no_grad;
  std::map<std::string, distributed::ShardedTensor> layout_of;  // the trained parameters, by name
  std::vector<distributed::ShardedTensor> targets;
  for (const auto& [prefix, module] : task_.checkpoint_modules()) {
    for (const auto& t : distributed::sharded_tensors(*module, prefixed(prefix))) {
      if (prefix.empty()) layout_of.emplace(t.name, t);
      targets.push_back(t);
    }
  }

  // The model. At the same tp a rank reads only its own part; at another tp (or format 1's whole
  // tensors) it joins the saving layout's shards and takes its slice.
  const bool v2 = saved.format >= 2, same_tp = v2 && saved.tp == layout.tp;
  std::vector<std::map<std::string, torch::Tensor>> shards(
      same_tp || !v2 ? 1 : static_cast<std::size_t>(saved.tp));
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const std::string name = !v2 ? "model.pt" : model_part(same_tp ? layout.tp_rank : static_cast<int>(k));
    for (auto& [tensor_name, t] : part(name)) shards[k][tensor_name] = t;
  }
  // The whole tensor `name` from the saved shards `from`, laid out as model tensor `like` (its
  // moments are laid out as the parameter; flat under ZeRO-1: `shape` gives the shard's shape).
  auto full_of = [&](const std::string& name, const std::string& like,
                     const std::vector<std::map<std::string, torch::Tensor>>& from,
                     const std::function<std::vector<std::int64_t>(std::size_t)>& shape) {
    std::vector<torch::Tensor> pieces;
    for (std::size_t k = 0; k < from.size(); ++k) {
      const auto it = from[k].find(name);
      if (it == from[k].end()) throw std::runtime_error(dir + ": no saved tensor '" + name + "'");
      pieces.push_back(shape ? it->second.reshape(shape(k)) : it->second);
    }
    if (!v2) return pieces.front();
    const auto info = saved.tensors.find(like);
    if (info == saved.tensors.end())
      throw std::runtime_error(dir + "/meta.json does not describe '" + like + "'");
    return join_shards(pieces, info->second);
  };
  for (const auto& t : targets) {
    if (same_tp) {
      const auto it = shards[0].find(t.name);
      if (it == shards[0].end())
        throw std::runtime_error(dir + "/" + model_part(layout.tp_rank) + " has no tensor '" + t.name + "'");
      if (!it->second.sizes().equals(t.tensor.sizes()))
        throw std::runtime_error(dir + "/" + model_part(layout.tp_rank) + ": '" + t.name + "' has shape " +
                                 c10::str(it->second.sizes()) + ", the model's shard is " +
                                 c10::str(t.tensor.sizes()));
      const_cast<torch::Tensor&>(t.tensor).copy_(it->second.to(t.tensor.device(), t.tensor.scalar_type()));
      continue;
    }
    const auto full = full_of(t.name, t.name, shards, nullptr);
    if (!distributed::copy_local_shard(t, full, grid_.tp())) {
      throw std::runtime_error(dir + ": '" + t.name + "' has shape " + c10::str(full.sizes()) +
                               ", the model expects a shard " + c10::str(t.tensor.sizes()));
    }
  }

  // The optimizer.
  std::int64_t optimizer_step = 0;
  const auto& reducer = optimizer_.reducer();
  if (saved.zero && optimizer_.zero() && same_tp && saved.dp == layout.dp &&
      same_buckets(saved.buckets, reducer)) {
    std::vector<std::pair<torch::Tensor, torch::Tensor>> slices(saved.buckets.size());
    for (auto& [name, t] : part(zero_optim_part(layout.dp_rank, layout.tp_rank))) {
      if (name == "step") {
        optimizer_step = t.item<std::int64_t>();
        continue;
      }
      const auto [b, second] = parse_bucket_moment(name);
      (second ? slices.at(b).second : slices.at(b).first) = t;
    }
    optimizer_.load_zero_slices(slices, optimizer_step);
  } else {
    // Each parameter's moments at the saving layout, per saving tp rank this rank needs.
    std::vector<std::map<std::string, torch::Tensor>> moments_at(
        same_tp || !v2 ? 1 : static_cast<std::size_t>(saved.tp));
    for (std::size_t i = 0; i < moments_at.size(); ++i) {
      const int k = same_tp ? layout.tp_rank : static_cast<int>(i);
      if (!v2 || !saved.zero) {
        for (auto& [name, t] : part(!v2 ? "optim.pt" : optim_part(k))) {
          if (name == "step")
            optimizer_step = t.item<std::int64_t>();
          else
            moments_at[i][name] = t;
        }
        continue;
      }
      // ZeRO-1: tp rank k's buckets joined from every dp rank's slices.
      std::vector<std::vector<torch::Tensor>> first(saved.buckets.size()), second(saved.buckets.size());
      for (int j = 0; j < saved.dp; ++j) {
        for (auto& [name, t] : part(zero_optim_part(j, k))) {
          if (name == "step") {
            optimizer_step = t.item<std::int64_t>();
            continue;
          }
          const auto [b, is_second] = parse_bucket_moment(name);
          (is_second ? second.at(b) : first.at(b)).push_back(t);
        }
      }
      for (std::size_t b = 0; b < saved.buckets.size(); ++b) {
        const auto m1 = torch::cat(first[b]), m2 = torch::cat(second[b]);
        for (const auto& entry : saved.buckets[b].parameters) {
          moments_at[i][entry.name + ".exp_avg"] = m1.narrow(0, entry.offset, entry.numel);
          moments_at[i][entry.name + ".exp_avg_sq"] = m2.narrow(0, entry.offset, entry.numel);
        }
      }
    }
    std::map<std::string, torch::Tensor> moments;
    for (const auto& p : reducer.parameters()) {
      const auto like = layout_of.find(p.name);
      if (like == layout_of.end())
        throw std::runtime_error("optimizer parameter '" + p.name + "' is not in the model");
      for (const std::string which : {".exp_avg", ".exp_avg_sq"}) {
        if (same_tp) {
          const auto it = moments_at[0].find(p.name + which);
          if (it == moments_at[0].end())
            throw std::runtime_error(dir + ": no optimizer state '" + p.name + which + "'");
          moments[p.name + which] = it->second.reshape(p.tensor.sizes());
          continue;
        }
        // The moments are laid out like their parameter's saved shards (flat under ZeRO-1).
        std::function<std::vector<std::int64_t>(std::size_t)> shape;
        if (v2) shape = [&](std::size_t k) { return shards.at(k).at(p.name).sizes().vec(); };
        const auto full = full_of(p.name + which, p.name, moments_at, shape);
        moments[p.name + which] = distributed::local_shard(full, like->second, grid_.tp());
      }
    }
    optimizer_.load(moments, optimizer_step);
  }

  log_debug("resume: reading ", dir, "/trainer.json");
  const JsonValue state = JsonValue::parse(read_checked_part(dir, meta, "trainer.json"));
  counters.step = static_cast<std::uint64_t>(state["step"].as_int());
  counters.position =
      state.has("position") ? static_cast<std::uint64_t>(state["position"].as_int()) : kNoPosition;
  counters.samples = static_cast<std::uint64_t>(state["samples"].as_int());
  counters.tokens = state["tokens"].as_number();
  counters.flops = state.has("flops") ? state["flops"].as_number() : 0.0;
  counters.skipped_nonfinite = static_cast<std::uint64_t>(state["skipped_nonfinite"].as_int());
  counters.skipped_spikes = static_cast<std::uint64_t>(state["skipped_spikes"].as_int());
  counters.spike_history.clear();
  for (const auto& v : state["spike_history"].as_array()) counters.spike_history.push_back(v.as_number());
  counters.loader = datasets::LoaderState::from_json(state["loader"].dump());

  if (meta.has("optimizer") && meta["optimizer"].as_string() != optimizer_.kind()) {
    log_warn("resume: the checkpoint was trained with ", meta["optimizer"].as_string(), ", this run uses ",
             optimizer_.kind(), ": the moments carry over, the update rule changes");
  }
  if (saved.dp * saved.tp == layout.world && saved.tp == layout.tp) {
    for (auto& [name, t] : part("rank-" + std::to_string(layout.rank) + ".pt")) {
      if (name == "rng.cpu") const_cast<at::Generator&>(at::detail::getDefaultCPUGenerator()).set_state(t);
      if (name == "rng.cuda" && cuda_rng_in_use())
        const_cast<at::Generator&>(at::globalContext().defaultGenerator(at::Device(at::kCUDA))).set_state(t);
    }
  } else {
    log_warn(
        "resume: checkpoint layout dp ", saved.dp, " x tp ", saved.tp, " differs from this run's dp ",
        layout.dp, " x tp ", layout.tp,
        ": weights, optimizer state and the data position are resharded; per-rank RNG streams start fresh");
  }
}

}  // namespace trafficfm::core

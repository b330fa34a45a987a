#include "core/trainer/trainer_checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/version.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "core/json.h"
#include "core/json_value.h"
#include "core/log.h"
#include "core/trainer/parameter_count.h"
#include "distributed/tensor_parallel_state.h"

namespace trafficfm::core {

using distributed::ReduceOp;

void pickle_tensors_to(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const ByteSink& sink) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.cpu().contiguous());
  // What torch::pickle_save does, with the zip container streamed to `sink` instead of grown
  // in a vector: the pickle program is small; tensor storages go out from their own memory.
  std::vector<char> program;
  torch::jit::Pickler pickler(
      [&](const char* bytes, std::size_t size) { program.insert(program.end(), bytes, bytes + size); },
      nullptr, nullptr, nullptr);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  caffe2::serialize::PyTorchStreamWriter archive([&](const void* bytes, std::size_t size) {
    sink(bytes, size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", program.data(), program.size(), pickler.tensorData(), archive);
  archive.writeEndOfFile();
}

std::vector<char> pickle_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::vector<char> out;
  pickle_tensors_to(tensors, [&](const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    out.insert(out.end(), bytes, bytes + size);
  });
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> unpickle_tensors(const std::string& bytes,
                                                                    const std::string& what) {
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    throw std::runtime_error(what + ": not a pickled tensor dict (" + std::string(e.what()).substr(0, 200) +
                             ")");
  }
  if (!value.isGenericDict()) throw std::runtime_error(what + ": not a dict of tensors");
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor())
      throw std::runtime_error(what + ": not a dict of tensors");
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

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
  const bool gathers = layout.dp_rank == 0;  // one tp group assembles whole tensors
  const bool rank0 = layout.rank == 0;
  std::vector<std::pair<std::string, PartWriter>> parts;

  std::vector<std::pair<std::string, torch::Tensor>> model_tensors;
  std::map<std::string, distributed::ShardedTensor> layout_of;  // the trained parameters
  for (const auto& [prefix, module] : task_.checkpoint_modules()) {
    for (const auto& t : distributed::sharded_tensors(*module, prefixed(prefix))) {
      if (prefix.empty()) layout_of.emplace(t.name, t);
      if (gathers) model_tensors.emplace_back(t.name, distributed::gather_full(t, grid_.tp()));
    }
  }
  auto moments = optimizer_.state();  // collective over dp under ZeRO-1
  std::vector<std::pair<std::string, torch::Tensor>> optim_tensors;
  if (gathers) {
    for (const auto& [name, tensor] : moments) {
      const std::string param = name.substr(0, name.rfind(".exp_avg"));
      optim_tensors.emplace_back(name, distributed::gather_full(layout_of.at(param), grid_.tp(), tensor));
    }
    optim_tensors.emplace_back("step", torch::tensor({optimizer_.step_count()}, torch::kLong));
  }
  if (rank0) {
    // Serialized while written (no staging copy). An async save copies the tensors here, on
    // the training thread, because training goes on changing them while the writer runs.
    if (settings_.async) {
      for (auto* list : {&model_tensors, &optim_tensors}) {
        for (auto& entry : *list) entry.second = entry.second.detach().to(torch::kCPU, false, /*copy=*/true);
      }
    }
    parts.emplace_back("model.pt", [tensors = std::move(model_tensors)](const ByteSink& sink) {
      pickle_tensors_to(tensors, sink);
    });
    parts.emplace_back("optim.pt", [tensors = std::move(optim_tensors)](const ByteSink& sink) {
      pickle_tensors_to(tensors, sink);
    });
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

  pending_parts_.clear();
  for (int r = 0; r < layout.world; ++r) pending_parts_.push_back("rank-" + std::to_string(r) + ".pt");
  for (const char* name : {"model.pt", "optim.pt", "trainer.json"}) pending_parts_.push_back(name);
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
  if (pending_parts_.empty()) return;
  if (writer_.joinable()) writer_.join();
  // Every rank must know whether every part was written before rank 0 commits.
  auto failed = torch::tensor({writer_error_.empty() ? 0.0 : 1.0}, torch::kDouble);
  grid_.world().all_reduce(failed, ReduceOp::kMax);
  const std::uint64_t step = pending_step_;
  std::vector<std::string> parts;
  parts.swap(pending_parts_);
  if (failed.item<double>() > 0) {
    const std::string error = writer_error_.empty() ? "another rank failed to write its part" : writer_error_;
    writer_error_.clear();
    throw std::runtime_error("checkpoint of step " + std::to_string(step) + " not committed: " + error);
  }
  if (grid_.layout().rank == 0) {
    const auto commit_started = std::chrono::steady_clock::now();
    store_.commit(step, parts, pending_meta_, written_sha256_);
    store_.apply_retention(settings_.keep_last, settings_.milestone_every);
    const double commit_seconds = seconds_since(commit_started);
    const double seconds = seconds_since(save_started_);
    log_info("checkpoint: step ", step, " -> ", store_.step_dir(step), " (rank 0 wrote ",
             pending_bytes_ / 1e6, " MB; ", seconds, " s from save to commit: gather ", serialize_seconds_,
             " s, serialize+write+hash ", write_seconds_, " s, commit ", commit_seconds, " s; ",
             pending_bytes_ / 1e6 / seconds, " MB/s)");
  }
  grid_.world().barrier();
}

bool TrainerCheckpoint::restore(TrainerCounters& counters) {
  const auto& layout = grid_.layout();
  // Rank 0 chooses (and says what it skipped); every rank reads that one.
  auto chosen = torch::tensor({-1.0}, torch::kDouble);
  if (layout.rank == 0) {
    CheckpointStore::Found found;
    std::vector<std::string> warnings;
    const bool ok = store_.newest_valid(found, &warnings);
    for (const auto& w : warnings) log_warn("resume: ", w);
    if (ok) chosen = torch::tensor({static_cast<double>(found.step)}, torch::kDouble);
  }
  grid_.world().broadcast(chosen, 0);
  if (chosen.item<double>() < 0) {
    log_info("resume: no valid checkpoint in ", store_.root(), "; starting fresh");
    return false;
  }
  const auto step = static_cast<std::uint64_t>(chosen.item<double>());
  const std::string dir = store_.step_dir(step);
  const JsonValue meta = JsonValue::parse(store_.read_part(dir, "meta.json"));
  std::map<std::string, torch::Tensor> saved;
  for (auto& [name, t] : unpickle_tensors(store_.read_part(dir, "model.pt"), dir + "/model.pt"))
    saved[name] = t;
  torch::NoGradGuard no_grad;
  std::map<std::string, distributed::ShardedTensor> layout_of;
  for (const auto& [prefix, module] : task_.checkpoint_modules()) {
    for (const auto& t : distributed::sharded_tensors(*module, prefixed(prefix))) {
      if (prefix.empty()) layout_of.emplace(t.name, t);
      const auto it = saved.find(t.name);
      if (it == saved.end()) throw std::runtime_error(dir + "/model.pt has no tensor '" + t.name + "'");
      if (!distributed::copy_local_shard(t, it->second, grid_.tp())) {
        throw std::runtime_error(dir + "/model.pt: '" + t.name + "' has shape " +
                                 c10::str(it->second.sizes()) + ", the model expects a shard " +
                                 c10::str(t.tensor.sizes()));
      }
    }
  }
  std::map<std::string, torch::Tensor> moments;
  std::int64_t optimizer_step = 0;
  for (auto& [name, t] : unpickle_tensors(store_.read_part(dir, "optim.pt"), dir + "/optim.pt")) {
    if (name == "step") {
      optimizer_step = t.item<std::int64_t>();
      continue;
    }
    const std::string param = name.substr(0, name.rfind(".exp_avg"));
    const auto like = layout_of.find(param);
    if (like == layout_of.end())
      throw std::runtime_error(dir + "/optim.pt: state for unknown parameter '" + param + "'");
    moments[name] = distributed::local_shard(t, like->second, grid_.tp());
  }
  optimizer_.load(moments, optimizer_step);

  const JsonValue state = JsonValue::parse(store_.read_part(dir, "trainer.json"));
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
  const auto& saved_layout = meta["layout"];
  if (saved_layout["world"].as_int() == layout.world && saved_layout["tp"].as_int() == layout.tp) {
    for (auto& [name, t] :
         unpickle_tensors(store_.read_part(dir, "rank-" + std::to_string(layout.rank) + ".pt"), dir)) {
      if (name == "rng.cpu") const_cast<at::Generator&>(at::detail::getDefaultCPUGenerator()).set_state(t);
      if (name == "rng.cuda" && cuda_rng_in_use())
        const_cast<at::Generator&>(at::globalContext().defaultGenerator(at::Device(at::kCUDA))).set_state(t);
    }
  } else {
    log_warn(
        "resume: checkpoint layout dp ", saved_layout["dp"].as_int(), " x tp ", saved_layout["tp"].as_int(),
        " differs from this run's dp ", layout.dp, " x tp ", layout.tp,
        ": weights, optimizer state and the data position are resharded; per-rank RNG streams start fresh");
  }
  log_info("resume: continuing from ", dir, " (step ", step, ")");
  return true;
}

}  // namespace trafficfm::core

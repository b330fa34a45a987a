#include "launch/torch/training_setup.h"

#include <ATen/Parallel.h>
#include <mpi.h>
#include <sched.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/log.h"
#include "distributed/routed_communicator.h"

namespace trafficfm::launch {

namespace po = core::po;

void add_training_options(po::options_description& options) {
  po::options_description train("Training [train]");
  // clang-format off
  train.add_options()
      ("train.steps", po::value<std::uint64_t>()->default_value(1000), "optimizer steps (unless samples or tokens is set)")
      ("train.samples", po::value<std::uint64_t>()->default_value(0), "train on this many samples (0: use steps)")
      ("train.tokens", po::value<double>()->default_value(0), "train on this many tokens (0: use steps)")
      ("train.batch-size", po::value<std::size_t>()->default_value(32), "samples per micro-batch per data-parallel rank")
      ("train.batch-nodes", po::value<std::size_t>()->default_value(4096), "graph models: nodes per micro-batch per data-parallel rank (whole graphs; at least one; replaces batch-size)")
      ("train.accumulation", po::value<std::size_t>()->default_value(1), "micro-batches per optimizer step")
      ("train.lr", po::value<double>()->default_value(1e-3), "peak learning rate (at a global batch of lr-batch, when set)")
      ("train.lr-batch", po::value<std::uint64_t>()->default_value(0), "global batch at which lr applies: the peak is lr x global batch / lr-batch (0: lr as given)")
      ("train.min-lr-ratio", po::value<double>()->default_value(0.1), "final rate / peak rate")
      ("train.warmup", po::value<double>()->default_value(0.05), "linear warmup, as a fraction of the steps")
      ("train.decay", po::value<std::string>()->default_value("cosine"), "cosine | linear | constant")
      ("train.optimizer", po::value<std::string>()->default_value("adamw"), "adamw | adamw-scale (nanoT5's AdamWScale: each step times max(1e-3, RMS(param)), for T5 at lr ~2e-2)")
      ("train.weight-decay", po::value<double>()->default_value(0.05), "AdamW decoupled weight decay (not on biases, norms, positions)")
      ("train.beta1", po::value<double>()->default_value(0.9), "AdamW beta1")
      ("train.beta2", po::value<double>()->default_value(0.95), "AdamW beta2")
      ("train.eps", po::value<double>()->default_value(1e-8), "AdamW epsilon")
      ("train.clip", po::value<double>()->default_value(1.0), "global gradient-norm clip (0: off)")
      ("train.optimizer-impl", po::value<std::string>()->default_value("auto"), "auto | per-tensor | foreach | one-pass: how the AdamW update runs (the same arithmetic): torch's op sequence tensor by tensor, each op over all tensors at once (LibTorch _foreach_: few kernel launches, for GPUs), or one pass over each tensor's memory (CPU); auto: foreach on cuda, one-pass on cpu")
      ("train.log-every", po::value<std::uint64_t>()->default_value(10), "steps between metrics lines")
      ("train.eval-every", po::value<std::uint64_t>()->default_value(0), "steps between val evaluations (0: at the end only)")
      ("train.eval-batches", po::value<std::size_t>()->default_value(20), "val batches per evaluation and rank")
      ("train.ckpt-every", po::value<std::uint64_t>()->default_value(0), "steps between checkpoints (0: at the end and on a stop)")
      ("train.ckpt-minutes", po::value<double>()->default_value(0), "also checkpoint every M minutes (0: off)")
      ("train.ckpt-async", po::value<bool>()->default_value(false), "write checkpoints on a background thread")
      ("train.keep-last", po::value<std::size_t>()->default_value(3), "checkpoints kept besides milestones")
      ("train.milestone-every", po::value<std::uint64_t>()->default_value(0), "keep every checkpoint at a multiple of N steps (0: none)")
      ("train.max-bad-steps", po::value<std::size_t>()->default_value(5), "non-finite steps in a row that stop the run")
      ("train.spike-zscore", po::value<double>()->default_value(0), "skip a step whose loss is this many sigma above the recent mean (0: off)")
      ("train.seed", po::value<std::uint64_t>()->default_value(0), "seed of initialization, data order, masks and dropout")
      ("train.device", po::value<std::string>()->default_value("cpu"), "cpu | cuda (cuda: bf16 autocast)")
      ("train.threads", po::value<int>()->default_value(0), "intra-op threads per rank (0: cores / ranks on the node)")
      ("train.peak-tflops", po::value<double>()->default_value(0), "peak TFLOP/s of one rank's device, for MFU (0: not reported)");
  po::options_description parallel("Parallelism [parallel]");
  parallel.add_options()
      ("parallel.tp", po::value<int>()->default_value(1), "tensor-parallel ranks (contiguous); dp = world / tp")
      ("parallel.zero", po::value<int>()->default_value(0), "0 | 1: ZeRO-1, optimizer state sharded across dp ranks")
      ("parallel.find-unused", po::value<bool>()->default_value(false), "parameters without a gradient contribute zeros instead of an error")
      ("parallel.bucket-mb", po::value<double>()->default_value(25.0), "gradient-sync bucket size in MB");
  po::options_description data("Data [data]");
  data.add_options()
      ("data.prefetch", po::value<std::size_t>()->default_value(2), "batches assembled ahead on the loader thread")
      ("data.window-blocks", po::value<std::size_t>()->default_value(16), "shuffle window in HDF5 chunks")
      ("data.shuffle", po::value<std::string>()->default_value("interleave"), "order within a shuffle window: interleave (each block's rows shuffled, the window's blocks dealt in turn; each dp rank reads about its own 1/dp of the blocks) | window (all the window's samples shuffled together: the order of runs started before this option)")
      ("data.verify-shards", po::value<std::string>()->default_value("once"), "SHA-256 of the shards against the manifest: once (again only for a shard whose size or mtime changed since CORPUS/verified.json) | always | never")
      ("data.skip-bad-shards", po::value<bool>()->default_value(false), "leave out (and count) shards that fail the checks");
  // clang-format on
  options.add(train).add(parallel).add(data);
}

namespace {

// --train.threads 0: the cores this rank may use. A launcher that bound the rank (srun with
// task affinity) leaves it fewer CPUs than the machine has: all of them are its own. Unbound
// ranks (mpirun --bind-to none) share the machine's cores with the other ranks of the node.
int default_threads(int ranks_on_node) {
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
    const int allowed = CPU_COUNT(&mask);
    if (allowed > 0 && allowed < machine) return allowed;
  }
  return std::max(1, machine / std::max(1, ranks_on_node));
}

// A Slurm job's identity in the log: which job, which array task, how many times requeued.
void log_slurm_job() {
  const char* job = std::getenv("SLURM_JOB_ID");
  if (!job) return;
  auto env = [](const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return std::string(value ? value : fallback);
  };
  std::string line = std::string("slurm: job ") + job;
  if (std::getenv("SLURM_ARRAY_TASK_ID"))
    line += " (array " + env("SLURM_ARRAY_JOB_ID", "?") + "_" + env("SLURM_ARRAY_TASK_ID", "?") + ")";
  line += ", restart count " + env("SLURM_RESTART_COUNT", "0") + ", " + env("SLURM_JOB_NUM_NODES", "1") +
          " node(s) " + env("SLURM_JOB_NODELIST", "?");
  core::log_info(line);
}

// One GPU per local rank. A launcher that gives each rank its own GPU (CUDA_VISIBLE_DEVICES
// per task) leaves every rank seeing one device: device 0.
int cuda_device_for(const distributed::LaunchEnv& env) {
  const int visible = static_cast<int>(torch::cuda::device_count());
  if (visible > 1 && env.local_size > visible) {
    throw core::UsageError("--train.device cuda: " + std::to_string(env.local_size) +
                           " ranks on this node but " + std::to_string(visible) +
                           " GPUs visible (one GPU per rank)");
  }
  return visible == 1 ? 0 : env.local_rank;
}

// Several ranks: MPI for host tensors; on GPUs, NCCL for the CUDA tensors (gradients,
// tensor-parallel activations) routed by device.
std::unique_ptr<distributed::Communicator> make_world_communicator(const distributed::LaunchEnv& env,
                                                                   const torch::Device& device) {
  if (env.world_size == 1) return distributed::make_local_communicator();
  auto host = distributed::make_mpi_world_communicator();
  if (!device.is_cuda()) return host;
#ifdef TRAFFICFM_HAVE_NCCL
  const int gpu = device.index();
  return distributed::make_routed_communicator(std::move(host), torch::kCUDA,
                                               [gpu](distributed::Communicator& bootstrap) {
                                                 return distributed::make_nccl_communicator(bootstrap, gpu);
                                               });
#else
  throw core::UsageError("--train.device cuda on " + std::to_string(env.world_size) +
                         " ranks needs NCCL, and this build found none (CUDA and nccl.h at configure time)");
#endif
}

}  // namespace

std::unique_ptr<TrainingSetup> make_training_setup(const po::variables_map& values) {
  auto setup = std::make_unique<TrainingSetup>();
  setup->session = std::make_unique<distributed::MpiSession>();
  const auto& env = setup->session->env();
  const std::string device = values["train.device"].as<std::string>();
  if (device == "cuda") {
    if (!torch::cuda::is_available())
      throw core::UsageError("--train.device cuda: this LibTorch sees no CUDA device");
    setup->device = torch::Device(torch::kCUDA, cuda_device_for(env));
  } else if (device != "cpu") {
    throw core::UsageError("--train.device must be cpu or cuda, not '" + device + "'");
  }
  setup->world = make_world_communicator(env, setup->device);
  const int tp = values["parallel.tp"].as<int>();
  if (tp < 1 || env.world_size % tp != 0) {
    throw core::UsageError("--parallel.tp " + std::to_string(tp) + " does not divide the " +
                           std::to_string(env.world_size) + " ranks");
  }
  setup->grid = std::make_unique<distributed::ProcessGrid>(*setup->world, tp);
  int threads = values["train.threads"].as<int>();
  if (threads <= 0) threads = default_threads(env.local_size);
  at::set_num_threads(threads);
  setup->seed = values["train.seed"].as<std::uint64_t>();
  return setup;
}

datasets::LoaderOptions loader_options(const po::variables_map& values, const std::string& corpus,
                                       const std::string& split, const distributed::ProcessGrid& grid,
                                       std::vector<std::string> columns, const char* size_column,
                                       const char* balance_column) {
  datasets::LoaderOptions o;
  o.corpus = corpus;
  o.split = split;
  o.dp_rank = grid.layout().dp_rank;
  o.dp_size = grid.layout().dp;
  o.seed = values["train.seed"].as<std::uint64_t>();
  o.batch_size = values["train.batch-size"].as<std::size_t>();
  if (size_column) {
    o.size_column = size_column;
    o.balance_column = balance_column ? balance_column : "";
    o.batch_size = values["train.batch-nodes"].as<std::size_t>();
  }
  o.window_blocks = values["data.window-blocks"].as<std::size_t>();
  try {
    o.shuffle = datasets::parse_window_shuffle(values["data.shuffle"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw core::UsageError(std::string("--data.shuffle: ") + e.what());
  }
  o.prefetch = values["data.prefetch"].as<std::size_t>();
  try {
    o.verify = datasets::parse_verify_shards(values["data.verify-shards"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw core::UsageError(std::string("--data.verify-shards: ") + e.what());
  }
  o.skip_bad_shards = values["data.skip-bad-shards"].as<bool>();
  o.columns = std::move(columns);
  // Only the training loader: evaluation counts real rows (a filler would count twice).
  o.pad_empty_ranks = split == "train";
  return o;
}

std::uint64_t training_samples(const po::variables_map& values, double tokens_per_sample) {
  const auto samples = values["train.samples"].as<std::uint64_t>();
  const double tokens = values["train.tokens"].as<double>();
  if (samples > 0 && tokens > 0) throw core::UsageError("give --train.samples or --train.tokens, not both");
  if (tokens <= 0) return samples;
  if (tokens_per_sample <= 0) throw core::UsageError("--train.tokens: this model does not count tokens");
  return static_cast<std::uint64_t>(std::ceil(tokens / tokens_per_sample));
}

PerSampleMeans measure_per_sample(core::Task& task, datasets::LoaderOptions options, int batches) {
  options.dp_rank = 0;
  options.dp_size = 1;
  options.pad_empty_ranks = false;
  datasets::Loader loader(options);
  torch::NoGradGuard no_grad;
  const bool training = task.model().is_training();
  task.model().eval();
  double flops = 0, tokens = 0, rows = 0;
  for (int b = 0; b < std::max(1, batches); ++b) {
    const auto batch = loader.next();
    task.losses(batch);
    flops += task.batch_flops(batch);
    tokens += task.batch_tokens(batch);
    rows += static_cast<double>(batch.rows);
    if (loader.state().epoch > 0) break;  // a split smaller than the probe: once through it
  }
  task.model().train(training);
  PerSampleMeans m;
  if (rows > 0) m.flops = flops / rows, m.tokens = tokens / rows;
  return m;
}

double global_batch(const po::variables_map& values, const distributed::ProcessGrid& grid) {
  return static_cast<double>(grid.layout().dp * values["train.batch-size"].as<std::size_t>() *
                             values["train.accumulation"].as<std::size_t>());
}

std::uint64_t training_steps(const po::variables_map& values, const distributed::ProcessGrid& grid,
                             double tokens_per_sample) {
  const auto samples = training_samples(values, tokens_per_sample);
  if (samples == 0) return values["train.steps"].as<std::uint64_t>();
  return static_cast<std::uint64_t>(std::ceil(static_cast<double>(samples) / global_batch(values, grid)));
}

core::TrainerOptions trainer_options(const po::variables_map& values, const po::options_description& options,
                                     const std::string& out_dir, std::uint64_t steps, std::uint64_t samples,
                                     double batch) {
  core::TrainerOptions o;
  o.out_dir = out_dir;
  o.steps = steps;
  o.samples = samples;
  o.accumulation = values["train.accumulation"].as<std::size_t>();
  const auto lr_batch = values["train.lr-batch"].as<std::uint64_t>();
  o.schedule.peak =
      values["train.lr"].as<double>() * (lr_batch > 0 ? batch / static_cast<double>(lr_batch) : 1.0);
  if (lr_batch > 0) {
    core::log_info("lr: ", values["train.lr"].as<double>(), " at a global batch of ", lr_batch, " -> peak ",
                   o.schedule.peak, " at this run's ", batch);
  }
  // In the run's unit: samples for a run defined in samples (its schedule then survives a
  // resume at another dp), else steps.
  const std::uint64_t units = samples > 0 ? samples : steps;
  o.schedule.total_steps = units;
  o.schedule.warmup_steps =
      static_cast<std::uint64_t>(values["train.warmup"].as<double>() * static_cast<double>(units));
  o.schedule.min_ratio = values["train.min-lr-ratio"].as<double>();
  o.schedule.decay = values["train.decay"].as<std::string>();
  o.schedule.at(0);  // rejects an unknown decay name now
  o.optimizer.weight_decay = values["train.weight-decay"].as<double>();
  o.optimizer.beta1 = values["train.beta1"].as<double>();
  o.optimizer.beta2 = values["train.beta2"].as<double>();
  o.optimizer.eps = values["train.eps"].as<double>();
  o.optimizer.clip_norm = values["train.clip"].as<double>();
  const std::string impl = values["train.optimizer-impl"].as<std::string>();
  const bool cuda = values["train.device"].as<std::string>() == "cuda";
  if (impl == "per-tensor") {
    o.optimizer.update = distributed::AdamWMode::kPerTensor;
  } else if (impl == "foreach" || (impl == "auto" && cuda)) {
    o.optimizer.update = distributed::AdamWMode::kForeach;
  } else if (impl == "one-pass" || impl == "auto") {
    if (cuda && impl == "one-pass") throw core::UsageError("--train.optimizer-impl one-pass is for cpu");
    o.optimizer.update = distributed::AdamWMode::kOnePass;
  } else {
    throw core::UsageError("--train.optimizer-impl must be auto, per-tensor, foreach or one-pass, not '" +
                           impl + "'");
  }
  o.optimizer.kind = values["train.optimizer"].as<std::string>();
  try {
    core::check_optimizer_kind(o.optimizer.kind);
  } catch (const std::invalid_argument& e) {
    throw core::UsageError(std::string("--train.") + e.what());
  }
  const int zero = values["parallel.zero"].as<int>();
  if (zero != 0 && zero != 1) throw core::UsageError("--parallel.zero must be 0 or 1");
  o.optimizer.zero = zero == 1;
  o.bucket_bytes = static_cast<std::size_t>(values["parallel.bucket-mb"].as<double>() * (1u << 20));
  o.find_unused = values["parallel.find-unused"].as<bool>();
  o.log_every = std::max<std::uint64_t>(1, values["train.log-every"].as<std::uint64_t>());
  o.eval_every = values["train.eval-every"].as<std::uint64_t>();
  o.eval_batches = values["train.eval-batches"].as<std::size_t>();
  o.ckpt_every = values["train.ckpt-every"].as<std::uint64_t>();
  o.ckpt_minutes = values["train.ckpt-minutes"].as<double>();
  o.ckpt_async = values["train.ckpt-async"].as<bool>();
  o.keep_last = values["train.keep-last"].as<std::size_t>();
  o.milestone_every = values["train.milestone-every"].as<std::uint64_t>();
  o.max_bad_steps = values["train.max-bad-steps"].as<std::size_t>();
  o.spike_zscore = values["train.spike-zscore"].as<double>();
  o.peak_flops_per_rank = values["train.peak-tflops"].as<double>() * 1e12;
  o.config_ini = core::options_to_ini(values, options);
  return o;
}

int run_collectively(const TrainingSetup& setup, const std::function<int()>& body) {
  if (!setup.session->active()) return body();
  try {
    return body();
  } catch (const core::UsageError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, core::kExitUsage);
  } catch (const c10::Error& e) {
    core::log_error(e.what_without_backtrace(), " (aborting all ranks)");
    MPI_Abort(MPI_COMM_WORLD, core::kExitFailure);
  } catch (const std::exception& e) {
    core::log_error(e.what(), " (aborting all ranks)");
    MPI_Abort(MPI_COMM_WORLD, core::kExitFailure);
  }
  return core::kExitFailure;
}

void prepare_run_directory(const std::string& out_dir, const std::string& config_ini,
                           const distributed::ProcessGrid& grid) {
  std::filesystem::create_directories(out_dir + "/log");
  core::open_log_file(out_dir + "/log/rank-" + std::to_string(grid.layout().rank) + ".log");
  log_slurm_job();
  if (grid.layout().rank == 0) core::write_file_atomically(out_dir + "/config.ini", config_ini);
}

}  // namespace trafficfm::launch

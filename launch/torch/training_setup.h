// What every training subcommand (pretrain, finetune) shares: the [train], [parallel] and
// [data] options, the process group (MPI under mpirun/srun, none alone), the dp x tp grid, the
// device and thread count, and the translation of options into Trainer and Loader options.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "core/options.h"
#include "core/trainer/trainer.h"
#include "datasets/loader/loader.h"
#include "distributed/mpi_session.h"
#include "distributed/process_grid.h"

namespace trafficfm::launch {

void add_training_options(core::po::options_description& options);

struct TrainingSetup {
  std::unique_ptr<distributed::MpiSession> session;
  std::unique_ptr<distributed::Communicator> world;
  std::unique_ptr<distributed::ProcessGrid> grid;
  torch::Device device = torch::kCPU;
  std::uint64_t seed = 0;
};

// Starts MPI when launched with several ranks, builds the grid (--parallel.tp), picks the
// device and sets the intra-op threads (default: the cores divided among the node's ranks).
std::unique_ptr<TrainingSetup> make_training_setup(const core::po::variables_map& values);

// With a size column (a graph model's ModelEntry::size_column), batches are bounded by
// --train.batch-nodes rather than counted by --train.batch-size.
datasets::LoaderOptions loader_options(const core::po::variables_map& values, const std::string& corpus,
                                       const std::string& split, const distributed::ProcessGrid& grid,
                                       std::vector<std::string> columns, const char* size_column = nullptr,
                                       const char* balance_column = nullptr);

// Steps from --train.steps, or from --train.samples / --train.tokens when given (global batch
// = dp x batch-size x accumulation).
std::uint64_t training_steps(const core::po::variables_map& values, const distributed::ProcessGrid& grid,
                             double tokens_per_sample);

// The run's length in samples when it is defined in samples (--train.samples, or --train.tokens
// over tokens_per_sample); 0 when it is defined in steps.
std::uint64_t training_samples(const core::po::variables_map& values, double tokens_per_sample);

// FLOPs and tokens per sample of a task that counts them per batch (Lens: they follow each
// batch's lengths): the means over the first `batches` train batches of epoch 0 as one rank
// alone reads them (dp rank 0 of 1, whatever `options` says), run forward without gradients.
// So every rank, at every dp, measures the same samples and gets the same values.
struct PerSampleMeans {
  double flops = 0, tokens = 0;
};
PerSampleMeans measure_per_sample(core::Task& task, datasets::LoaderOptions options, int batches);

// dp x batch-size x accumulation.
double global_batch(const core::po::variables_map& values, const distributed::ProcessGrid& grid);

// `samples` > 0: the run is defined in samples (TrainerOptions::samples). `batch`: the global
// batch, which scales the peak learning rate when --train.lr-batch is set.
core::TrainerOptions trainer_options(const core::po::variables_map& values,
                                     const core::po::options_description& options, const std::string& out_dir,
                                     std::uint64_t steps, std::uint64_t samples, double batch);

// Runs `body` (the part that talks to other ranks). When it throws on one rank of several, the
// error is logged and the whole job is aborted (MPI_Abort with the usual exit code) instead of
// leaving the other ranks waiting in a collective forever.
int run_collectively(const TrainingSetup& setup, const std::function<int()>& body);

// Rank 0 writes RUN/config.ini (the resolved options); every rank logs to RUN/log/rank-N.log.
void prepare_run_directory(const std::string& out_dir, const std::string& config_ini,
                           const distributed::ProcessGrid& grid);

}  // namespace trafficfm::launch

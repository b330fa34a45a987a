// Data-parallel sync benchmark, under mpirun -np 2 (each rank one compute thread):
//  1. bus bandwidth of the reducer (bucketed, on its communication thread) against one raw
//     MPI_Allreduce of the same total bytes, and against raw MPI_Allreduce calls on the same
//     bucket sizes (which isolates the reducer's own overhead from MPI's message-size effects);
//  2. a training step with gradient sync against the same step without, both ranks computing
//     at once (overlap);
//  3. data-parallel throughput against one rank alone: rank 0 times the compute-only step
//     while the other ranks wait, so the baseline has the machine to itself.
//   mpirun -np 2 trafficfm_reducer_bench [layers=8] [width=1600] [batch=64]
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "distributed/communicator.h"
#include "distributed/reducer.h"

using namespace trafficfm::distributed;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Mlp : torch::nn::Module {
  std::vector<torch::nn::Linear> layers;
  Mlp(int depth, int width) {
    for (int i = 0; i < depth; ++i)
      layers.push_back(register_module("l" + std::to_string(i), torch::nn::Linear(width, width)));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (auto& l : layers) x = torch::relu(l->forward(x));
    return x;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  const int depth = argc > 1 ? std::atoi(argv[1]) : 8;
  const int width = argc > 2 ? std::atoi(argv[2]) : 1600;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 64;
  at::set_num_threads(1);
  {
    auto world = make_mpi_world_communicator();
    const int rank = world->rank(), size = world->size();
    torch::manual_seed(0);
    Mlp model(depth, width);
    std::int64_t params = 0;
    std::vector<NamedParameter> named;
    for (auto& p : model.named_parameters()) {
      named.push_back({p.key(), p.value()});
      params += p.value().numel();
    }
    const double bytes = params * 4.0;
    ReducerOptions options;
    options.loss_divided_by_dp = true;  // as the trainer runs it: the loss carries the 1/dp
    Reducer reducer(named, *world, options);
    auto x = torch::randn({batch, width}), y = torch::randn({batch, width});
    auto step = [&](bool sync) {
      model.zero_grad();
      reducer.set_sync(sync);
      (torch::mse_loss(model.forward(x), y) / size).backward();
      if (sync) reducer.finish();
    };
    // 1. bandwidth: raw MPI_Allreduce vs the reducer on the same gradient bytes.
    auto flat = torch::ones({params});
    std::vector<torch::Tensor> chunks;
    for (std::size_t b = 0; b < reducer.buckets(); ++b)
      chunks.push_back(torch::ones({reducer.bucket_numel(b)}));
    std::vector<double> raw, raw_chunked, ours;
    step(true);
    for (int i = 0; i < 5; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      auto t = Clock::now();
      MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(params), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
      raw.push_back(seconds_since(t));
      MPI_Barrier(MPI_COMM_WORLD);
      t = Clock::now();
      for (auto& c : chunks) {
        MPI_Allreduce(MPI_IN_PLACE, c.data_ptr(), static_cast<int>(c.numel()), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      }
      raw_chunked.push_back(seconds_since(t));
      MPI_Barrier(MPI_COMM_WORLD);
      t = Clock::now();
      reducer.set_sync(true);
      reducer.sync_existing_gradients();
      ours.push_back(seconds_since(t));
    }
    const double bus = 2.0 * (size - 1) / size * bytes;
    // 3 (baseline). One rank alone: the others wait in a barrier.
    std::vector<double> alone;
    for (int i = 0; i < 6; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      if (rank == 0) {
        auto t = Clock::now();
        step(false);
        alone.push_back(seconds_since(t));
      }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    // 2. overlap: step with sync vs compute only.
    std::vector<double> compute, synced;
    for (int i = 0; i < 6; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      auto t = Clock::now();
      step(false);
      compute.push_back(seconds_since(t));
      MPI_Barrier(MPI_COMM_WORLD);
      t = Clock::now();
      step(true);
      synced.push_back(seconds_since(t));
    }
    if (rank == 0) {
      std::printf(
          "model: %d x Linear(%d, %d) = %.1fM parameters, %.1f MB of gradients, batch %d per rank, %d ranks "
          "x 1 thread\n",
          depth, width, width, params / 1e6, bytes / 1e6, batch, size);
      std::printf(
          "bus bandwidth: raw MPI_Allreduce %.2f GB/s (one call), %.2f GB/s (%zu calls of the bucket sizes); "
          "reducer %.2f GB/s = %.0f%% of one call, %.0f%% of the bucket-sized calls\n",
          bus / median(raw) / 1e9, bus / median(raw_chunked) / 1e9, reducer.buckets(),
          bus / median(ours) / 1e9, 100.0 * median(raw) / median(ours),
          100.0 * median(raw_chunked) / median(ours));
      std::printf("step: compute only %.1f ms, with gradient sync %.1f ms = %.3fx\n", 1e3 * median(compute),
                  1e3 * median(synced), median(synced) / median(compute));
      std::printf(
          "throughput: %.0f samples/s on %d ranks; one rank alone %.0f samples/s (%.1f ms/step) = %.2fx; "
          "one rank while the others compute %.0f samples/s = %.2fx\n",
          size * batch / median(synced), size, batch / median(alone), 1e3 * median(alone),
          (size * batch / median(synced)) / (batch / median(alone)), batch / median(compute),
          (size * batch / median(synced)) / (batch / median(compute)));
    }
  }
  MPI_Finalize();
  return 0;
}

// Data-parallel sync benchmark, under mpirun -np 2 (each rank one compute thread):
//  1. bus bandwidth of the reducer (bucketed, on its communication thread) against one raw
//     MPI_Allreduce of the same total bytes, and against raw MPI_Allreduce calls on the same
//     bucket sizes (which isolates the reducer's own overhead from MPI's message-size effects);
//  2. a training step with gradient sync against the same step without, both ranks computing
//     at once (overlap);
//  3. data-parallel throughput against one rank alone: rank 0 times the compute-only step
//     while the other ranks sleep, so the baseline has the machine to itself (every rank does
//     the same in turn, to show how unequal the cores are).
//   mpirun -np 2 trafficfm_reducer_bench [layers=8] [width=1600] [batch=256] [rounds=12]
// Each figure is the median over its rounds; every ratio comes from one run.
#include <mpi.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "core/malloc_tuning.h"
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

// A barrier that sleeps while it waits: OpenMPI's MPI_Barrier spins, and a rank spinning on
// the other core would slow the one-rank-alone baseline where cores share a physical one.
void sleeping_barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  for (int done = 0; !done;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// What this process's threads have used so far: CPU seconds, page faults, context switches.
struct CpuUse {
  double user = 0, system = 0, faults = 0, switches = 0;
  static CpuUse now() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return {seconds(usage.ru_utime), seconds(usage.ru_stime), static_cast<double>(usage.ru_minflt),
            static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw)};
  }
  CpuUse& operator+=(const CpuUse& o) {
    user += o.user, system += o.system, faults += o.faults, switches += o.switches;
    return *this;
  }
  CpuUse operator-(const CpuUse& o) const {
    return {user - o.user, system - o.system, faults - o.faults, switches - o.switches};
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
  const int batch = argc > 3 ? std::atoi(argv[3]) : 256;
  const int rounds = argc > 4 ? std::max(1, std::atoi(argv[4])) : 12;
  at::set_num_threads(1);
  trafficfm::core::keep_freed_memory_for_reuse();  // as in training: no page faults per step
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
      model.zero_grad(/*set_to_none=*/false);  // as the trainer: gradients stay bucket views
      reducer.set_sync(sync);
      (torch::mse_loss(model.forward(x), y) / size).backward();
      if (sync) reducer.finish();
    };
    step(true);  // warm-up: first-touch page faults, allocator
    // 2 and 3, interleaved round by round so that a slow spell of the machine (this is a
    // shared VM) lands on every kind of step alike instead of on one whole block of them.
    // Per round: each rank alone in turn (the others sleep), all computing, all computing and
    // syncing. A synchronous step ends with its slowest rank, so the compute-only step of a
    // round is the slowest rank's: the sync's cost is what the step takes beyond that.
    const auto slowest = [&](double seconds) {
      MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      return seconds;
    };
    std::vector<std::vector<double>> alone(size);
    std::vector<double> compute, synced;
    // CPU time of this rank's threads in the two kinds of step: what the sync costs in CPU,
    // which on a machine with no idle core is what it takes from compute.
    CpuUse cpu_compute, cpu_synced;
    for (int i = 0; i < rounds; ++i) {
      for (int r = 0; r < size; ++r) {
        sleeping_barrier();
        double seconds = 0;
        if (rank == r) {
          const auto t = Clock::now();
          step(false);
          seconds = seconds_since(t);
        }
        alone[r].push_back(slowest(seconds));
      }
      sleeping_barrier();
      auto cpu = CpuUse::now();
      auto t = Clock::now();
      step(false);
      const double compute_seconds = seconds_since(t);
      cpu_compute += CpuUse::now() - cpu;
      compute.push_back(slowest(compute_seconds));
      sleeping_barrier();
      cpu = CpuUse::now();
      t = Clock::now();
      step(true);
      const double synced_seconds = seconds_since(t);
      cpu_synced += CpuUse::now() - cpu;
      synced.push_back(slowest(synced_seconds));
    }
    // 1. bandwidth: the reducer, then raw MPI_Allreduce, on the same gradient bytes. Each in
    // its own block after one untimed call, and the raw calls last: OpenMPI's large
    // all-reduce allocates and frees temporary buffers, and the kernel's work of giving that
    // memory back slows whatever runs next for a while (measured: it made the reducer's own
    // all-reduce 2-10x slower when interleaved with it).
    const auto timed = [&](const std::function<void()>& operation) {
      std::vector<double> seconds;
      operation();
      for (int i = 0; i < rounds; ++i) {
        sleeping_barrier();
        const auto t = Clock::now();
        operation();
        seconds.push_back(seconds_since(t));
      }
      return median(seconds);
    };
    const double ours = timed([&] {
      reducer.set_sync(true);
      reducer.sync_existing_gradients();
    });
    std::vector<torch::Tensor> chunks;
    for (std::size_t b = 0; b < reducer.buckets(); ++b)
      chunks.push_back(torch::ones({reducer.bucket_numel(b)}));
    const double raw_chunked = timed([&] {
      for (auto& c : chunks) {
        MPI_Allreduce(MPI_IN_PLACE, c.data_ptr(), static_cast<int>(c.numel()), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      }
    });
    auto flat = torch::ones({params});
    const double raw = timed([&] {
      MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(params), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    });
    const double bus = 2.0 * (size - 1) / size * bytes;
    if (rank == 0) {
      std::printf(
          "model: %d x Linear(%d, %d) = %.1fM parameters, %.1f MB of gradients, batch %d per rank, %d ranks "
          "x 1 thread, medians of %d rounds\n",
          depth, width, width, params / 1e6, bytes / 1e6, batch, size, rounds);
      std::printf(
          "bus bandwidth: raw MPI_Allreduce %.2f GB/s (one call), %.2f GB/s (%zu calls of the bucket sizes); "
          "reducer %.2f GB/s = %.0f%% of one call, %.0f%% of the bucket-sized calls\n",
          bus / raw / 1e9, bus / raw_chunked / 1e9, reducer.buckets(), bus / ours / 1e9, 100.0 * raw / ours,
          100.0 * raw_chunked / ours);
      std::printf("step: compute only %.1f ms (slowest rank), with gradient sync %.1f ms = %.3fx\n",
                  1e3 * median(compute), 1e3 * median(synced), median(synced) / median(compute));
      const auto print_use = [&](const char* what, const CpuUse& use) {
        std::printf("%s %.1f ms user + %.1f ms system, %.0f page faults, %.0f context switches", what,
                    1e3 * use.user / rounds, 1e3 * use.system / rounds, use.faults / rounds,
                    use.switches / rounds);
      };
      print_use("rank 0 per step: compute only", cpu_compute);
      print_use("; with gradient sync", cpu_synced);
      std::printf("\n");
      // One rank alone on rank 0's core is the baseline. Cores of a VM need not be equal: a
      // synchronous step waits for the slowest rank, which caps the speed-up at
      // size x (rank 0 alone) / (slowest rank alone); printed so a low figure can be told apart.
      double slowest_alone = 0;
      std::printf("one rank alone, per rank's core:");
      for (int r = 0; r < size; ++r) {
        std::printf(" %.1f ms", 1e3 * median(alone[r]));
        slowest_alone = std::max(slowest_alone, median(alone[r]));
      }
      const double speedup = (size * batch / median(synced)) / (batch / median(alone[0]));
      const double ceiling = size * median(alone[0]) / slowest_alone;
      std::printf("; a synchronous step's ceiling on these cores %.2fx\n", ceiling);
      std::printf(
          "throughput: %.0f samples/s on %d ranks; one rank alone %.0f samples/s = %.2fx "
          "(%.0f%% of the ceiling)\n",
          size * batch / median(synced), size, batch / median(alone[0]), speedup, 100.0 * speedup / ceiling);
    }
  }
  MPI_Finalize();
  return 0;
}

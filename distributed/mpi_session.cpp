#include "distributed/mpi_session.h"

#include <mpi.h>

#include <stdexcept>
#include <vector>

namespace trafficfm::distributed {

MpiSession::MpiSession() : env_(detect_launch_env()) {
  if (env_.world_size <= 1) return;
  int already = 0;
  MPI_Initialized(&already);
  if (already) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  initialized_ = true;
  // Background prefetch and asynchronous checkpoint threads may call MPI.
  if (provided < MPI_THREAD_MULTIPLE) {
    throw std::runtime_error("MPI provides thread level " + std::to_string(provided) +
                             ", trafficfm needs MPI_THREAD_MULTIPLE");
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != env_.world_rank || size != env_.world_size) {
    throw std::runtime_error("launcher environment says rank " + std::to_string(env_.world_rank) + "/" +
                             std::to_string(env_.world_size) + " but MPI says " + std::to_string(rank) + "/" +
                             std::to_string(size));
  }
}

MpiSession::~MpiSession() {
  if (initialized_) MPI_Finalize();
}

void MpiSession::barrier() const {
  if (initialized_) MPI_Barrier(MPI_COMM_WORLD);
}

std::string MpiSession::broadcast(const std::string& value) const {
  if (!initialized_) return value;
  unsigned long long length = value.size();
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  std::vector<char> buffer(value.begin(), value.end());
  buffer.resize(length);
  MPI_Bcast(buffer.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD);
  return std::string(buffer.begin(), buffer.end());
}

bool MpiSession::any(bool flag) const {
  if (!initialized_) return flag;
  int local = flag ? 1 : 0, global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return global != 0;
}

}  // namespace trafficfm::distributed

// Memory shared by the ranks of one node, for the MPI backend's single-node all-reduce and
// reduce-scatter: every rank's buffer lies in one POSIX shared-memory mapping, so a rank reads
// and writes its peers' buffers directly. Summing the slice it owns across all buffers and
// writing the result into each moves every gradient byte through memory about twice, where a
// message-passing all-reduce copies it into a peer's receive buffer first and sums it after
// (twice as much memory traffic, which is the whole cost on a CPU node).
#pragma once
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trafficfm::distributed {

// A mapping of `parts` equal parts of `part_bytes` (page-aligned), one per rank of a node.
class NodeSharedMapping {
 public:
  // The creating rank: makes the object with its full size reserved (posix_fallocate, so a
  // full /dev/shm is an error here, not a SIGBUS later). Throws naming the object and errno.
  static std::shared_ptr<NodeSharedMapping> create(const std::string& name, std::size_t part_bytes,
                                                   int parts);
  // Every other rank, after create() returned on the creator.
  static std::shared_ptr<NodeSharedMapping> open(const std::string& name, std::size_t part_bytes, int parts);
  // Removes the name once every rank has opened it: the memory lives on until the last unmap.
  static void unlink(const std::string& name);
  ~NodeSharedMapping();
  NodeSharedMapping(const NodeSharedMapping&) = delete;
  NodeSharedMapping& operator=(const NodeSharedMapping&) = delete;

  char* part(int k) const { return base_ + static_cast<std::size_t>(k) * part_bytes_; }
  std::size_t part_bytes() const { return part_bytes_; }
  int parts() const { return parts_; }

 private:
  NodeSharedMapping(char* base, std::size_t part_bytes, int parts)
      : base_(base), part_bytes_(part_bytes), parts_(parts) {}
  static std::shared_ptr<NodeSharedMapping> map(int fd, const std::string& name, std::size_t part_bytes,
                                                int parts);
  char* base_;
  std::size_t part_bytes_;
  int parts_;
};

// A barrier of a node's ranks on a page they share. A rank that arrives early sleeps in the
// kernel (a futex on the shared page) until the last one wakes it. Waiting costs no CPU: a
// bucket's all-reduce starts while backward still runs, and polling for a slower peer, even
// with sleeps between polls, took the core from this rank's own compute thread thousands of
// times a second. Every rank calls wait() the same number of times (from one thread each).
class NodeBarrier {
 public:
  // `page`: a mapping every rank opened, at least kBytes, zero-filled at creation.
  NodeBarrier(std::shared_ptr<NodeSharedMapping> page, int ranks);
  void wait();
  static constexpr std::size_t kBytes = 128;

 private:
  std::shared_ptr<NodeSharedMapping> page_;
  int ranks_;
};

// Page-rounded size of one rank's part for a buffer of `bytes`.
std::size_t shared_part_bytes(std::size_t bytes);

// Elements [begin, end) of the buffers `parts` (one per rank, same dtype): their sum, in rank
// order, divided by the number of parts when `average`, written to out[0, end - begin). `out`
// must not overlap the parts. float32 and float64.
void sum_parts(torch::ScalarType dtype, const std::vector<const char*>& parts, std::int64_t begin,
               std::int64_t end, bool average, char* out);
bool can_sum_parts(torch::ScalarType dtype);

}  // namespace trafficfm::distributed

#include "distributed/node_shared_memory.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace trafficfm::distributed {
namespace {

std::runtime_error os_error(const std::string& what, const std::string& name, int error) {
  return std::runtime_error(what + " of shared memory /dev/shm" + name + " failed: " + std::strerror(error));
}

// Separate loops (rather than one loop over the parts per element) so each vectorizes.
template <typename T>
void sum_parts_typed(const std::vector<const char*>& parts, std::int64_t begin, std::int64_t end,
                     bool average, T* __restrict__ out) {
  const std::int64_t count = end - begin;
  const auto part = [&](std::size_t k) { return reinterpret_cast<const T*>(parts[k]) + begin; };
  const T* __restrict__ first = part(0);
  if (parts.size() == 1) {
    std::copy(first, first + count, out);
  } else {
    const T* __restrict__ second = part(1);
    for (std::int64_t i = 0; i < count; ++i) out[i] = first[i] + second[i];
  }
  for (std::size_t k = 2; k < parts.size(); ++k) {
    const T* __restrict__ next = part(k);
    for (std::int64_t i = 0; i < count; ++i) out[i] += next[i];
  }
  if (average) {
    const T n = static_cast<T>(parts.size());
    for (std::int64_t i = 0; i < count; ++i) out[i] /= n;
  }
}

// The barrier's two words, on separate cache lines: ranks arriving hammer `arrived`, while
// sleepers watch `generation`.
using Word = std::atomic<std::uint32_t>;
static_assert(sizeof(Word) == sizeof(std::uint32_t) && Word::is_always_lock_free,
              "the futex word must be a plain 32-bit integer");
Word& arrived_word(char* page) { return *reinterpret_cast<Word*>(page); }
Word& generation_word(char* page) { return *reinterpret_cast<Word*>(page + 64); }

// Not FUTEX_PRIVATE_FLAG: the waiters are in different processes.
long futex(Word& word, int op, std::uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, nullptr, nullptr, 0);
}

}  // namespace

NodeBarrier::NodeBarrier(std::shared_ptr<NodeSharedMapping> page, int ranks)
    : page_(std::move(page)), ranks_(ranks) {
  if (page_->part_bytes() < kBytes) throw std::invalid_argument("NodeBarrier: page too small");
}

// Sense reversal by a generation count: the last rank to arrive resets the count before it
// advances the generation, so a rank that hurries on to the next barrier counts afresh.
void NodeBarrier::wait() {
  char* page = page_->part(0);
  Word& arrived = arrived_word(page);
  Word& generation = generation_word(page);
  const std::uint32_t current = generation.load(std::memory_order_acquire);
  if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<std::uint32_t>(ranks_)) {
    arrived.store(0, std::memory_order_relaxed);
    generation.fetch_add(1, std::memory_order_release);
    futex(generation, FUTEX_WAKE, INT_MAX);
    return;
  }
  // A few polls first: when the peers are already on their way, a sleep and a wake-up cost
  // more than the wait itself.
  for (int poll = 0; poll < 64; ++poll) {
    if (generation.load(std::memory_order_acquire) != current) return;
  }
  while (generation.load(std::memory_order_acquire) == current) {
    // Returns at once (EAGAIN) if the generation moved on since the load: no lost wake-up.
    futex(generation, FUTEX_WAIT, current);
  }
}

std::size_t shared_part_bytes(std::size_t bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return std::max<std::size_t>(page, (bytes + page - 1) / page * page);
}

std::shared_ptr<NodeSharedMapping> NodeSharedMapping::map(int fd, const std::string& name,
                                                          std::size_t part_bytes, int parts) {
  const std::size_t total = part_bytes * static_cast<std::size_t>(parts);
  void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int error = errno;
  close(fd);
  if (base == MAP_FAILED) throw os_error("mmap", name, error);
  return std::shared_ptr<NodeSharedMapping>(
      new NodeSharedMapping(static_cast<char*>(base), part_bytes, parts));
}

std::shared_ptr<NodeSharedMapping> NodeSharedMapping::create(const std::string& name, std::size_t part_bytes,
                                                             int parts) {
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) throw os_error("shm_open (create)", name, errno);
  const off_t total = static_cast<off_t>(part_bytes * static_cast<std::size_t>(parts));
  const int rc = posix_fallocate(fd, 0, total);  // returns the error, does not set errno
  if (rc != 0) {
    close(fd);
    shm_unlink(name.c_str());
    throw os_error("reserving " + std::to_string(total) + " bytes", name, rc);
  }
  return map(fd, name, part_bytes, parts);
}

std::shared_ptr<NodeSharedMapping> NodeSharedMapping::open(const std::string& name, std::size_t part_bytes,
                                                           int parts) {
  const int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) throw os_error("shm_open", name, errno);
  return map(fd, name, part_bytes, parts);
}

void NodeSharedMapping::unlink(const std::string& name) { shm_unlink(name.c_str()); }

NodeSharedMapping::~NodeSharedMapping() { munmap(base_, part_bytes_ * static_cast<std::size_t>(parts_)); }

bool can_sum_parts(torch::ScalarType dtype) { return dtype == torch::kFloat || dtype == torch::kDouble; }

void sum_parts(torch::ScalarType dtype, const std::vector<const char*>& parts, std::int64_t begin,
               std::int64_t end, bool average, char* out) {
  if (dtype == torch::kFloat) {
    sum_parts_typed<float>(parts, begin, end, average, reinterpret_cast<float*>(out));
  } else if (dtype == torch::kDouble) {
    sum_parts_typed<double>(parts, begin, end, average, reinterpret_cast<double*>(out));
  } else {
    throw std::invalid_argument("sum_parts: float32 and float64 only");
  }
}

}  // namespace trafficfm::distributed

#include "core/file_tree.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace trafficfm::core {
namespace {

thread_local std::string failed_entry;
thread_local int failed_errno = 0;

// Children before parents (FTW_DEPTH), links as links (FTW_PHYS).
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP) ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT) {
    failed_entry = path;
    failed_errno = errno;
    return 1;  // stops the walk
  }
  return 0;
}

}  // namespace

void remove_tree(const std::string& path) {
  failed_entry.clear();
  failed_errno = 0;
  if (::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) == 0) return;
  if (failed_errno != 0)
    throw std::runtime_error(failed_entry + ": cannot remove: " + std::strerror(failed_errno));
  if (errno == ENOENT) return;  // nothing there to begin with
  throw std::runtime_error(path + ": cannot remove: " + std::strerror(errno));
}

}  // namespace trafficfm::core

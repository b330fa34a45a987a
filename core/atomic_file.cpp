#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace trafficfm::core {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string temporary_path_for(const std::string& path) { return path + ".tmp." + std::to_string(getpid()); }

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open for fsync", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  // Directories on some filesystems refuse fsync with EINVAL; that is not data loss.
  if (rc != 0 && errno != EINVAL) fail("cannot fsync", path);
}

void start_writeback(const std::string& path) {
#ifdef __linux__
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open for writeback", path);
  // Only a hint: an error here shows again, and is reported, at the fsync that must follow.
  (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  ::close(fd);
#else
  (void)path;
#endif
}

void commit_file(const std::string& tmp_path, const std::string& path) {
  fsync_path(tmp_path);
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(tmp_path.c_str());
    errno = saved;
    fail("cannot rename " + tmp_path + " to", path);
  }
  fsync_path(parent_directory(path));
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  write_file_atomically(path, contents.data(), contents.size());
}

void write_file_atomically(const std::string& path, const void* data, std::size_t size, bool sync_directory) {
  write_file_atomically(
      path, [&](const ByteSink& sink) { sink(data, size); }, sync_directory);
}

void write_file_atomically(const std::string& path, const std::function<void(const ByteSink&)>& produce,
                           bool sync_directory) {
  const std::string tmp = temporary_path_for(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create", tmp);
  auto abandon = [&](int error) {
    ::close(fd);
    std::remove(tmp.c_str());
    errno = error;
  };
  const ByteSink sink = [&](const void* data, std::size_t size) {
    const char* next = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, next, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write", tmp);  // errno names why; the catch below cleans up
      next += n;
      size -= static_cast<std::size_t>(n);
    }
  };
  try {
    produce(sink);
  } catch (...) {
    abandon(errno);
    throw;
  }
  const int synced = ::fsync(fd) == 0 ? 0 : errno;
  const int closed = ::close(fd) == 0 ? 0 : errno;
  if (synced != 0 || closed != 0) {
    std::remove(tmp.c_str());
    errno = synced ? synced : closed;
    fail("cannot write", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(tmp.c_str());
    errno = saved;
    fail("cannot rename " + tmp + " to", path);
  }
  if (sync_directory) fsync_path(parent_directory(path));
}

}  // namespace trafficfm::core

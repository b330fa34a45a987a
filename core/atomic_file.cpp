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

std::string temporary_path_for(const std::string& path) {
  return path + ".tmp." + std::to_string(getpid());
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open for fsync", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  // Directories on some filesystems refuse fsync with EINVAL; that is not data loss.
  if (rc != 0 && errno != EINVAL) fail("cannot fsync", path);
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
  const std::string tmp = temporary_path_for(path);
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (!file) fail("cannot create", tmp);
  const bool ok = std::fwrite(contents.data(), 1, contents.size(), file) == contents.size();
  const bool closed = std::fclose(file) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    fail("cannot write", tmp);
  }
  commit_file(tmp, path);
}

}  // namespace trafficfm::core

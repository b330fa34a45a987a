// Files that are either completely written or not there at all: write to a temporary name in
// the same directory, fsync, rename over the target, fsync the directory. A crash at any point
// leaves the previous version (or nothing), never a half-written file.
#pragma once
#include <string>

namespace trafficfm::core {

// A temporary path beside `path` ("<path>.tmp.<pid>"), unique per process.
std::string temporary_path_for(const std::string& path);

// fsync(file) then rename(tmp, path) then fsync(directory). Throws naming the file on failure.
void commit_file(const std::string& tmp_path, const std::string& path);

// Writes `contents` to `path` atomically.
void write_file_atomically(const std::string& path, const std::string& contents);

// Flushes a file's data to disk by path (fsync).
void fsync_path(const std::string& path);

}  // namespace trafficfm::core

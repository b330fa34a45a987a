// Files that are either completely written or not there at all: write to a temporary name in
// the same directory, fsync, rename over the target, fsync the directory. A crash at any point
// leaves the previous version (or nothing), never a half-written file.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace trafficfm::core {

// A temporary path beside `path` ("<path>.tmp.<pid>"), unique per process.
std::string temporary_path_for(const std::string& path);

// fsync(file) then rename(tmp, path) then fsync(directory). Throws naming the file on failure.
void commit_file(const std::string& tmp_path, const std::string& path);

// Writes `contents` to `path` atomically.
void write_file_atomically(const std::string& path, const std::string& contents);
// Same, straight from a buffer (no stdio copy: large checkpoint parts go to the kernel as is).
// `sync_directory` false leaves the rename's durability to a later fsync of the same
// directory (a checkpoint fsyncs its directory once, when it writes COMMIT, instead of once
// per part: each directory fsync is a journal commit).
void write_file_atomically(const std::string& path, const void* data, std::size_t size,
                           bool sync_directory = true);

// Streaming form: `produce` hands its bytes to the sink in any number of pieces, which go
// straight to the file (a serializer writes tensors from their own memory, no staging copy).
// If `produce` throws, the temporary file is removed and the target left as it was.
using ByteSink = std::function<void(const void* data, std::size_t size)>;
void write_file_atomically(const std::string& path, const std::function<void(const ByteSink&)>& produce,
                           bool sync_directory = true);

// Flushes a file's data to disk by path (fsync).
void fsync_path(const std::string& path);
// Starts writing a file's dirty pages to disk without waiting (Linux sync_file_range; nothing
// elsewhere), so work done before its fsync overlaps the disk's. Durability still needs fsync.
void start_writeback(const std::string& path);

}  // namespace trafficfm::core

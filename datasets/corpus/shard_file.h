// One corpus shard: an HDF5 file with one dataset per column, shape [samples, ...], chunked
// along samples and compressed (shuffle + deflate). Written to a temporary name and renamed
// when complete. The reader checks the structure against the manifest's schema and reads
// rows of a column, naming the file in every error.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "datasets/corpus/columns.h"
#include "datasets/corpus/shard_chunks.h"

namespace trafficfm::datasets {

struct ShardWriteOptions {
  std::size_t chunk_rows = 256;
  int deflate_level = 1;  // fast: the loader reads at tens of thousands of samples/s
};

// Writes all rows of `columns` to `path` (via a temporary file). Returns the file's size.
std::uint64_t write_shard(const std::string& path, const ColumnBuffer& columns,
                          const ShardWriteOptions& options, const std::string& encoder_name);
// The same from datasets whose chunks encode_chunk() has filled (shard_chunks.h): only the HDF5
// calls, for a caller that encodes the chunks on several threads.
std::uint64_t write_encoded_shard(const std::string& path, const std::vector<ShardDataset>& datasets,
                                  const ShardWriteOptions& options, const std::string& encoder_name);

// HDF5 (Debian's serial build) is not thread-safe: shard writers on different threads take this
// lock around their HDF5 calls, and only around those.
std::mutex& hdf5_mutex();
// A shard file written while its rows still arrive (CorpusWriter): every dataset is created
// when the file is, extendible along samples; the chunks of the fixed-width columns are appended
// as soon as they are encoded, in order, and each MB of them handed to the disk, so that by the flush
// most of a shard is written and its fsync short; finish() writes the rest and the final lengths.
// The same calls in the same order give the same bytes, on whichever threads they run (each call
// holds hdf5_mutex()).
// The file is `file` itself: committing it (fsync, rename) is the caller's.
class ShardStream {
 public:
  // `layout`: the datasets in order (shard_datasets of an empty buffer: names, types, shapes,
  // chunk rows); column_of[d] >= 0: dataset d is fixed-width column column_of[d], streamed.
  ShardStream(std::string file, const std::vector<ShardDataset>& layout, std::vector<int> column_of,
              const ShardWriteOptions& options, const std::string& encoder_name);
  ~ShardStream();  // closes and removes the file when finish() was not reached
  ShardStream(const ShardStream&) = delete;
  ShardStream& operator=(const ShardStream&) = delete;

  // Appends the next whole chunk of every streamed dataset: encoded[c] = column c's filtered
  // chunk (encode_rows).
  void append_chunk(const std::vector<std::vector<std::uint8_t>>& encoded);
  std::size_t chunks_appended() const { return appended_; }
  // Writes each dataset's chunks not yet appended (all of an unstreamed one's) and its length,
  // then closes the file.
  void finish(const std::vector<ShardDataset>& datasets);

 private:
  void write_chunk(std::size_t d, std::size_t k, std::uint64_t length,
                   const std::vector<std::uint8_t>& bytes);
  void close();
  std::string file_;
  std::vector<int> column_of_;
  long long file_id_ = -1;
  std::vector<long long> datasets_;
  std::vector<std::string> names_;
  std::vector<std::size_t> chunk_rows_;
  std::size_t appended_ = 0;
  std::size_t unsynced_ = 0;  // bytes written since the last writeback hint
  int fd_ = -1;
};

class ShardReader {
 public:
  // Opens and checks every column of `schema` (type, shape). Throws std::runtime_error naming
  // the file and what is wrong.
  ShardReader(const std::string& path, const std::vector<ColumnSpec>& schema);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  std::uint64_t rows() const { return rows_; }
  std::size_t chunk_rows() const { return chunk_rows_; }
  // Reads rows [first, first + count) of fixed column `c` into `out` (count * bytes_per_sample).
  void read(std::size_t c, std::uint64_t first, std::uint64_t count, void* out) const;
  // Reads rows [first, first + count) of ragged column `c`: their elements into `values` and
  // count + 1 offsets (in elements, from 0) into `offsets`.
  void read_ragged(std::size_t c, std::uint64_t first, std::uint64_t count, std::vector<std::uint8_t>& values,
                   std::vector<std::uint64_t>& offsets) const;
  const std::string& path() const { return path_; }

 private:
  template <typename Open>
  void check(const std::vector<ColumnSpec>& schema, Open& open);
  std::string path_;
  std::vector<ColumnSpec> schema_;
  long long file_ = -1;
  std::vector<long long> datasets_;                  // one per column (its values)
  std::vector<std::vector<std::uint64_t>> offsets_;  // per ragged column, read when opened
  std::uint64_t rows_ = 0;
  std::size_t chunk_rows_ = 0;
};

}  // namespace trafficfm::datasets

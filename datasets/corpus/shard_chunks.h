// A shard's datasets cut into chunks and filtered (shuffle, then deflate) by our own code
// rather than inside HDF5's filter pipeline, so the chunks of a shard can be compressed on any
// number of threads while HDF5 (a serial library) only writes them. A reader sees an ordinary
// shuffle + deflate dataset. At deflate level 0 and 2-9 the bytes are exactly what HDF5's own
// filters produce (zlib's compress2 at the level, as in H5Z_filter_deflate); level 1, the
// default, is ISA-L's deflate: other compressed bytes, the same data once inflated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/corpus/columns.h"

namespace trafficfm::datasets {

struct ShardWriteOptions;

// One dataset of a shard: shape [length, ...shape], chunks of `chunk_rows` rows.
struct ShardDataset {
  std::string name, description;
  DType dtype = DType::kUint8;
  std::uint64_t length = 0;
  std::vector<std::uint64_t> shape;
  const std::uint8_t* data = nullptr;  // rows first_row .. length - 1, borrowed from the buffer
  std::uint64_t first_row = 0;         // rows before it were encoded already (or are not needed)
  std::size_t row_bytes = 0;
  std::size_t chunk_rows = 0;                     // an edge chunk is padded to it
  std::vector<std::vector<std::uint8_t>> chunks;  // filtered bytes of each chunk, once encoded

  std::size_t chunk_count() const { return chunk_rows == 0 ? 0 : (length + chunk_rows - 1) / chunk_rows; }
};

// The datasets `columns` becomes, in the order they are written (a ragged column's values, then
// its offsets), with room for their chunks.
std::vector<ShardDataset> shard_datasets(const ColumnBuffer& columns, const ShardWriteOptions& options);

// Filters chunk `k` of `dataset` (its rows from first_row on) into dataset.chunks[k]: rows zero-padded to a
// whole chunk (as HDF5 stores an edge chunk), bytes shuffled by element size, deflated when the level is > 0.
// Different chunks may be encoded on different threads at once.
void encode_chunk(ShardDataset& dataset, std::size_t k, int deflate_level);
// The same for `rows` rows of `row_bytes` bytes at `rows_at` (of element type `dtype`), padded to
// a chunk of `chunk_rows` rows: the filtered bytes.
std::vector<std::uint8_t> encode_rows(const std::uint8_t* rows_at, std::uint64_t rows, std::size_t chunk_rows,
                                      std::size_t row_bytes, DType dtype, int deflate_level);

}  // namespace trafficfm::datasets

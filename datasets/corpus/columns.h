// Column-oriented sample storage: every encoder declares its columns (name, element type,
// per-sample shape), appends one row per sample, and the shard writer stores each column as
// one chunked, compressed HDF5 dataset of shape [samples, ...shape].
//
// A ragged column holds a variable number of elements per sample (a graph's nodes or edges):
// `shape` is then one element's, the values of all samples are concatenated into a dataset of
// shape [elements, ...shape], and a second dataset `<name>.offsets` (uint64, samples + 1)
// says where each sample's elements start: sample i is rows offsets[i] .. offsets[i+1].
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace trafficfm::datasets {

enum class DType { kUint8, kInt8, kInt32, kInt64, kUint64, kFloat32, kFloat64 };
std::size_t dtype_size(DType type);
const char* dtype_name(DType type);  // "uint8", "float32", ... (as numpy names them)

struct ColumnSpec {
  std::string name;
  DType type = DType::kUint8;
  std::vector<std::uint64_t> shape;  // per sample (per element when ragged); empty = scalar
  std::string description;
  bool ragged = false;
  // Values (bytes) of one sample, or of one element of a ragged column.
  std::size_t values_per_sample() const;
  std::size_t bytes_per_sample() const { return values_per_sample() * dtype_size(type); }
  std::string offsets_name() const { return name + ".offsets"; }
};

// Rows of samples, column by column.
class ColumnBuffer {
 public:
  explicit ColumnBuffer(std::vector<ColumnSpec> specs);
  const std::vector<ColumnSpec>& specs() const { return specs_; }
  std::size_t rows() const { return rows_; }
  std::size_t bytes() const;
  // Index of a column by name; throws std::out_of_range naming it.
  std::size_t column(const std::string& name) const;
  // Appends one row's values for column `c` (must be values_per_sample() elements of T). For a
  // ragged column, appends whole elements to the current row (a multiple of values_per_sample();
  // may be called several times per row, or not at all for an empty row).
  template <typename T>
  void put(std::size_t c, const T* values, std::size_t count) {
    const std::size_t width = specs_[c].values_per_sample();
    if (sizeof(T) != dtype_size(specs_[c].type) || (specs_[c].ragged ? count % width != 0 : count != width)) {
      throw std::logic_error("column '" + specs_[c].name + "': wrong element type or count");
    }
    // insert, not resize + memcpy: resize would zero the bytes first (prep appends ~100 MB/s).
    const auto* from = reinterpret_cast<const std::uint8_t*>(values);
    data_[c].insert(data_[c].end(), from, from + count * sizeof(T));
  }
  template <typename T>
  void put(std::size_t c, T value) {
    put(c, &value, 1);
  }
  // Marks the row complete; every column must have received exactly one row.
  void end_row();
  // Drops the current, incomplete row (an encoder that rejects a flow half-way).
  void abandon_row();
  const std::vector<std::uint8_t>& data(std::size_t c) const { return data_[c]; }
  // A fixed-width column's bytes of rows first_row() .. rows() - 1 (a ragged column's of all).
  // A ragged column's element offsets (rows() + 1 entries, from 0); empty for a fixed column.
  const std::vector<std::uint64_t>& offsets(std::size_t c) const { return offsets_[c]; }
  // The bytes of the row being written (not yet ended) of column `c`.
  std::pair<const std::uint8_t*, std::size_t> current_row(std::size_t c) const;
  void clear();  // keeps the memory, for the next shard
  // Reserves room for `rows` rows of every fixed-width column (a ragged one grows as it must).
  void reserve_rows(std::size_t rows);

  // The first row whose fixed-width bytes are still here: the rows before it were handed off by
  // take_fixed_rows(). rows() and bytes() still count them.
  std::size_t first_row() const { return first_row_; }
  // Hands off the complete rows first_row() .. rows() - 1 of every fixed-width column: swaps
  // column c's bytes with storage[c] (emptied first, its capacity kept for the rows that follow),
  // then first_row() = rows(). A writer compresses a finished chunk from them and recycles the
  // storage, so a shard's rows need not all wait in memory, every page fresh, until its flush.
  // storage gets one entry per column (a ragged column's stays empty). Throws while a row is
  // half-written.
  void take_fixed_rows(std::vector<std::vector<std::uint8_t>>& storage);

 private:
  std::vector<ColumnSpec> specs_;
  std::vector<std::vector<std::uint8_t>> data_;
  std::vector<std::vector<std::uint64_t>> offsets_;
  std::size_t rows_ = 0;
  std::size_t first_row_ = 0;
  std::size_t taken_bytes_ = 0;  // of the rows before first_row_
};

}  // namespace trafficfm::datasets

// Column-oriented sample storage: every encoder declares its columns (name, element type,
// per-sample shape), appends one row per sample, and the shard writer stores each column as
// one chunked, compressed HDF5 dataset of shape [samples, ...shape].
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace trafficfm::datasets {

enum class DType { kUint8, kInt8, kInt32, kInt64, kUint64, kFloat32, kFloat64 };
std::size_t dtype_size(DType type);
const char* dtype_name(DType type);  // "uint8", "float32", ... (as numpy names them)

struct ColumnSpec {
  std::string name;
  DType type = DType::kUint8;
  std::vector<std::uint64_t> shape;  // per sample; empty = scalar
  std::string description;
  std::size_t values_per_sample() const;
  std::size_t bytes_per_sample() const { return values_per_sample() * dtype_size(type); }
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
  // Appends one row's values for column `c` (must be values_per_sample() elements of T).
  template <typename T>
  void put(std::size_t c, const T* values, std::size_t count) {
    if (sizeof(T) != dtype_size(specs_[c].type) || count != specs_[c].values_per_sample()) {
      throw std::logic_error("column '" + specs_[c].name + "': wrong element type or count");
    }
    auto& bytes = data_[c];
    const std::size_t at = bytes.size();
    bytes.resize(at + count * sizeof(T));
    std::memcpy(bytes.data() + at, values, count * sizeof(T));
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
  void clear();

 private:
  std::vector<ColumnSpec> specs_;
  std::vector<std::vector<std::uint8_t>> data_;
  std::size_t rows_ = 0;
};

}  // namespace trafficfm::datasets

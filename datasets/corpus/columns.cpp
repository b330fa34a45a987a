#include "datasets/corpus/columns.h"

namespace trafficfm::datasets {

std::size_t dtype_size(DType type) {
  switch (type) {
    case DType::kUint8:
    case DType::kInt8:
      return 1;
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUint64:
    case DType::kFloat64:
      return 8;
  }
  return 0;
}

const char* dtype_name(DType type) {
  switch (type) {
    case DType::kUint8:
      return "uint8";
    case DType::kInt8:
      return "int8";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUint64:
      return "uint64";
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
  }
  return "?";
}

std::size_t ColumnSpec::values_per_sample() const {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

ColumnBuffer::ColumnBuffer(std::vector<ColumnSpec> specs)
    : specs_(std::move(specs)), data_(specs_.size()), offsets_(specs_.size()) {
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (specs_[c].ragged) offsets_[c].push_back(0);
  }
}

std::size_t ColumnBuffer::bytes() const {
  std::size_t n = taken_bytes_;
  for (const auto& d : data_) n += d.size();
  return n;
}

std::size_t ColumnBuffer::column(const std::string& name) const {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].name == name) return i;
  }
  throw std::out_of_range("no column named '" + name + "'");
}

void ColumnBuffer::end_row() {
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (!specs_[c].ragged && data_[c].size() != (rows_ + 1 - first_row_) * specs_[c].bytes_per_sample()) {
      throw std::logic_error("column '" + specs_[c].name + "' did not receive exactly one row");
    }
  }
  ++rows_;
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (specs_[c].ragged) offsets_[c].push_back(data_[c].size() / specs_[c].bytes_per_sample());
  }
}

std::pair<const std::uint8_t*, std::size_t> ColumnBuffer::current_row(std::size_t c) const {
  const std::size_t begin = specs_[c].ragged ? offsets_[c].back() * specs_[c].bytes_per_sample()
                                             : (rows_ - first_row_) * specs_[c].bytes_per_sample();
  return {data_[c].data() + begin, data_[c].size() - begin};
}

void ColumnBuffer::abandon_row() {
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    const std::size_t elements = specs_[c].ragged ? offsets_[c].back() : rows_ - first_row_;
    data_[c].resize(elements * specs_[c].bytes_per_sample());
  }
}

void ColumnBuffer::reserve_rows(std::size_t rows) {
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (!specs_[c].ragged) data_[c].reserve(rows * specs_[c].bytes_per_sample());
  }
}

void ColumnBuffer::take_fixed_rows(std::vector<std::vector<std::uint8_t>>& storage) {
  storage.resize(specs_.size());
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (!specs_[c].ragged && data_[c].size() != (rows_ - first_row_) * specs_[c].bytes_per_sample()) {
      throw std::logic_error("column '" + specs_[c].name + "': rows handed off while one is half-written");
    }
  }
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    if (specs_[c].ragged) continue;
    storage[c].clear();
    taken_bytes_ += data_[c].size();
    std::swap(storage[c], data_[c]);
  }
  first_row_ = rows_;
}

void ColumnBuffer::clear() {
  for (auto& d : data_) d.clear();
  for (std::size_t c = 0; c < specs_.size(); ++c) {
    offsets_[c].clear();
    if (specs_[c].ragged) offsets_[c].push_back(0);
  }
  rows_ = 0;
  first_row_ = 0;
  taken_bytes_ = 0;
}

}  // namespace trafficfm::datasets

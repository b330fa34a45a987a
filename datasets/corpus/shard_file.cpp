#include "datasets/corpus/shard_file.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <stdexcept>

#include "core/atomic_file.h"

namespace trafficfm::datasets {
namespace {

hid_t native_type(DType type) {
  switch (type) {
    case DType::kUint8:
      return H5T_NATIVE_UINT8;
    case DType::kInt8:
      return H5T_NATIVE_INT8;
    case DType::kInt32:
      return H5T_NATIVE_INT32;
    case DType::kInt64:
      return H5T_NATIVE_INT64;
    case DType::kUint64:
      return H5T_NATIVE_UINT64;
    case DType::kFloat32:
      return H5T_NATIVE_FLOAT;
    case DType::kFloat64:
      return H5T_NATIVE_DOUBLE;
  }
  return H5T_NATIVE_UINT8;
}

// HDF5 prints its own error stacks to stderr by default; we report errors ourselves.
void silence_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Closes an HDF5 handle at scope exit.
struct Handle {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Handle() {
    if (id >= 0) close(id);
  }
};

void write_string_attribute(hid_t object, const char* name, const std::string& value) {
  Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
  H5Tset_size(type.id, std::max<std::size_t>(1, value.size()));
  Handle space{H5Screate(H5S_SCALAR), H5Sclose};
  Handle attr{H5Acreate2(object, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
  H5Awrite(attr.id, type.id, value.c_str());
}

// One dataset of shape [length, ...shape], chunked along its first axis, with the shuffle and
// deflate filters declared and its chunks (already filtered) written as they are. Object times are
// not recorded, so the same rows give the same file bytes on every run.
void write_dataset(hid_t file, const std::string& tmp, const ShardDataset& d,
                   const ShardWriteOptions& options) {
  std::vector<hsize_t> dims = {d.length};
  dims.insert(dims.end(), d.shape.begin(), d.shape.end());
  Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
  Handle plist{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
  H5Pset_obj_track_times(plist.id, false);
  if (d.length > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = d.chunk_rows;
    H5Pset_chunk(plist.id, static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(plist.id);
    if (options.deflate_level > 0) H5Pset_deflate(plist.id, static_cast<unsigned>(options.deflate_level));
  }
  Handle dataset{
      H5Dcreate2(file, d.name.c_str(), native_type(d.dtype), space.id, H5P_DEFAULT, plist.id, H5P_DEFAULT),
      H5Dclose};
  if (dataset.id < 0) throw std::runtime_error(tmp + ": cannot create dataset '" + d.name + "'");
  write_string_attribute(dataset.id, "description", d.description);
  std::vector<hsize_t> offset(dims.size(), 0);
  for (std::size_t k = 0; k < d.chunks.size(); ++k) {
    offset[0] = k * d.chunk_rows;
    // Filter mask 0: every declared filter was applied (encode_chunk).
    if (H5Dwrite_chunk(dataset.id, H5P_DEFAULT, 0, offset.data(), d.chunks[k].size(), d.chunks[k].data()) <
        0) {
      throw std::runtime_error(tmp + ": cannot write dataset '" + d.name + "'");
    }
  }
}

// Reads [first, first + count) along the first axis of a dataset of shape [*, ...shape].
void read_rows(hid_t dataset, const std::string& path, const std::string& name, DType dtype,
               const std::vector<std::uint64_t>& shape, std::uint64_t first, std::uint64_t count, void* out) {
  if (count == 0) return;
  std::vector<hsize_t> start(shape.size() + 1, 0), extent(shape.size() + 1);
  start[0] = first;
  extent[0] = count;
  for (std::size_t d = 0; d < shape.size(); ++d) extent[d + 1] = shape[d];
  Handle file_space{H5Dget_space(dataset), H5Sclose};
  H5Sselect_hyperslab(file_space.id, H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  Handle memory_space{H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose};
  if (H5Dread(dataset, native_type(dtype), memory_space.id, file_space.id, H5P_DEFAULT, out) < 0) {
    throw std::runtime_error(path + ": cannot read dataset '" + name + "' (corrupt shard?)");
  }
}

}  // namespace

std::uint64_t write_encoded_shard(const std::string& path, const std::vector<ShardDataset>& datasets,
                                  const ShardWriteOptions& options, const std::string& encoder_name) {
  silence_hdf5();
  const std::string tmp = core::temporary_path_for(path);
  {
    Handle fcpl{H5Pcreate(H5P_FILE_CREATE), H5Pclose};
    H5Pset_obj_track_times(fcpl.id, false);  // the root group's times too
    Handle file{H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose};
    if (file.id < 0) throw std::runtime_error(tmp + ": cannot create HDF5 file");
    write_string_attribute(file.id, "trafficfm_encoder", encoder_name);
    for (const auto& d : datasets) write_dataset(file.id, tmp, d, options);
    if (H5Fflush(file.id, H5F_SCOPE_GLOBAL) < 0) throw std::runtime_error(tmp + ": cannot flush");
  }
  core::commit_file(tmp, path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fclose(f);
  return static_cast<std::uint64_t>(size);
}

std::uint64_t write_shard(const std::string& path, const ColumnBuffer& columns,
                          const ShardWriteOptions& options, const std::string& encoder_name) {
  auto datasets = shard_datasets(columns, options);
  for (auto& d : datasets) {
    for (std::size_t k = 0; k < d.chunk_count(); ++k) encode_chunk(d, k, options.deflate_level);
  }
  return write_encoded_shard(path, datasets, options, encoder_name);
}

ShardReader::ShardReader(const std::string& path, const std::vector<ColumnSpec>& schema)
    : path_(path), schema_(schema), offsets_(schema.size()) {
  silence_hdf5();
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) throw std::runtime_error(path + ": not a readable HDF5 shard");
  // Opens `name` and checks it has shape [*, ...shape] and the element size; returns the length.
  auto open = [&](const std::string& name, DType dtype, const std::vector<std::uint64_t>& shape,
                  bool first_dataset) {
    const hid_t dataset = H5Dopen2(file_, name.c_str(), H5P_DEFAULT);
    if (dataset < 0) throw std::runtime_error(path + ": missing dataset '" + name + "'");
    datasets_.push_back(dataset);
    Handle space{H5Dget_space(dataset), H5Sclose};
    const int rank = H5Sget_simple_extent_ndims(space.id);
    std::vector<hsize_t> dims(std::max(rank, 0));
    if (rank != static_cast<int>(shape.size() + 1) ||
        H5Sget_simple_extent_dims(space.id, dims.data(), nullptr) < 0) {
      throw std::runtime_error(path + ": dataset '" + name + "' has the wrong number of dimensions");
    }
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (dims[d + 1] != shape[d])
        throw std::runtime_error(path + ": dataset '" + name + "' has the wrong shape");
    }
    Handle type{H5Dget_type(dataset), H5Tclose};
    if (H5Tget_size(type.id) != dtype_size(dtype)) {
      throw std::runtime_error(path + ": dataset '" + name + "' has the wrong element type");
    }
    if (first_dataset) {
      Handle plist{H5Dget_create_plist(dataset), H5Pclose};
      std::vector<hsize_t> chunk(dims.size());
      chunk_rows_ = H5Pget_layout(plist.id) == H5D_CHUNKED && H5Pget_chunk(plist.id, rank, chunk.data()) >= 0
                        ? static_cast<std::size_t>(chunk[0])
                        : 256;
    }
    return static_cast<std::uint64_t>(dims[0]);
  };
  try {
    check(schema, open);
  } catch (...) {
    // A constructor that throws runs no destructor: close what was opened (a bad shard must
    // not stay open, e.g. for a rewrite by its owner).
    for (auto d : datasets_) H5Dclose(d);
    datasets_.clear();
    H5Fclose(file_);
    file_ = -1;
    throw;
  }
}

template <typename Open>
void ShardReader::check(const std::vector<ColumnSpec>& schema, Open& open) {
  const std::string& path = path_;
  for (std::size_t c = 0; c < schema.size(); ++c) {
    const ColumnSpec& spec = schema[c];
    const std::uint64_t length = open(spec.name, spec.type, spec.shape, c == 0 && !spec.ragged);
    std::uint64_t samples = length;
    if (spec.ragged) {
      // The offsets are read whole (8 bytes a sample) and checked, so that no read can leave
      // the values dataset whatever the file says.
      const std::uint64_t entries = open(spec.offsets_name(), DType::kUint64, {}, c == 0);
      if (entries == 0) throw std::runtime_error(path + ": dataset '" + spec.offsets_name() + "' is empty");
      auto& offsets = offsets_[c];
      offsets.resize(entries);
      read_rows(datasets_.back(), path, spec.offsets_name(), DType::kUint64, {}, 0, entries, offsets.data());
      H5Dclose(datasets_.back());
      datasets_.pop_back();
      for (std::size_t i = 0; i < entries; ++i) {
        if ((i == 0 && offsets[0] != 0) || (i > 0 && offsets[i] < offsets[i - 1])) {
          throw std::runtime_error(path + ": dataset '" + spec.offsets_name() +
                                   "' is not ascending from 0 at entry " + std::to_string(i) +
                                   " (corrupt shard?)");
        }
      }
      if (offsets.back() != length) {
        throw std::runtime_error(path + ": dataset '" + spec.offsets_name() + "' ends at " +
                                 std::to_string(offsets.back()) + ", but '" + spec.name + "' has " +
                                 std::to_string(length) + " elements");
      }
      samples = entries - 1;
    }
    if (c == 0) {
      rows_ = samples;
    } else if (samples != rows_) {
      throw std::runtime_error(path + ": dataset '" + spec.name + "' has " + std::to_string(samples) +
                               " rows, not " + std::to_string(rows_));
    }
  }
}

ShardReader::~ShardReader() {
  for (auto d : datasets_) H5Dclose(d);
  if (file_ >= 0) H5Fclose(file_);
}

void ShardReader::read(std::size_t c, std::uint64_t first, std::uint64_t count, void* out) const {
  if (first + count > rows_) throw std::out_of_range(path_ + ": rows beyond the end of the shard");
  const ColumnSpec& spec = schema_[c];
  if (spec.ragged) throw std::logic_error(path_ + ": column '" + spec.name + "' is ragged: use read_ragged");
  read_rows(datasets_[c], path_, spec.name, spec.type, spec.shape, first, count, out);
}

void ShardReader::read_ragged(std::size_t c, std::uint64_t first, std::uint64_t count,
                              std::vector<std::uint8_t>& values, std::vector<std::uint64_t>& offsets) const {
  if (first + count > rows_) throw std::out_of_range(path_ + ": rows beyond the end of the shard");
  const ColumnSpec& spec = schema_[c];
  if (!spec.ragged) throw std::logic_error(path_ + ": column '" + spec.name + "' is not ragged");
  const auto& all = offsets_[c];
  const std::uint64_t begin = all[first], end = all[first + count];
  offsets.resize(count + 1);
  for (std::uint64_t i = 0; i <= count; ++i) offsets[i] = all[first + i] - begin;
  values.resize((end - begin) * spec.bytes_per_sample());
  read_rows(datasets_[c], path_, spec.name, spec.type, spec.shape, begin, end - begin, values.data());
}

}  // namespace trafficfm::datasets

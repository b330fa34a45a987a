#include "datasets/corpus/shard_file.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

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

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

ShardStream::ShardStream(std::string file, const std::vector<ShardDataset>& layout,
                         std::vector<int> column_of, const ShardWriteOptions& options,
                         const std::string& encoder_name)
    : file_(std::move(file)), column_of_(std::move(column_of)) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5();
  Handle fcpl{H5Pcreate(H5P_FILE_CREATE), H5Pclose};
  H5Pset_obj_track_times(fcpl.id, false);  // the root group's times too
  file_id_ = H5Fcreate(file_.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT);
  if (file_id_ < 0) throw std::runtime_error(file_ + ": cannot create HDF5 file");
  try {
    write_string_attribute(file_id_, "trafficfm_encoder", encoder_name);
    // Every dataset: shape [0, ...shape], extendible along samples, chunks of chunk_rows rows,
    // shuffle and deflate declared (the chunks come filtered, encode_rows), no object times (the
    // same rows give the same bytes on every run).
    for (const auto& d : layout) {
      std::vector<hsize_t> dims = {0}, max_dims = {H5S_UNLIMITED}, chunk = {d.chunk_rows};
      for (auto n : d.shape) {
        dims.push_back(n);
        max_dims.push_back(n);
        chunk.push_back(n);
      }
      Handle space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()), H5Sclose};
      Handle plist{H5Pcreate(H5P_DATASET_CREATE), H5Pclose};
      H5Pset_obj_track_times(plist.id, false);
      H5Pset_chunk(plist.id, static_cast<int>(chunk.size()), chunk.data());
      H5Pset_shuffle(plist.id);
      if (options.deflate_level > 0) H5Pset_deflate(plist.id, static_cast<unsigned>(options.deflate_level));
      const hid_t dataset = H5Dcreate2(file_id_, d.name.c_str(), native_type(d.dtype), space.id, H5P_DEFAULT,
                                       plist.id, H5P_DEFAULT);
      if (dataset < 0) throw std::runtime_error(file_ + ": cannot create dataset '" + d.name + "'");
      datasets_.push_back(dataset);
      names_.push_back(d.name);
      chunk_rows_.push_back(d.chunk_rows);
      write_string_attribute(dataset, "description", d.description);
    }
  } catch (...) {
    close();
    ::unlink(file_.c_str());
    throw;
  }
  fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);  // only to start writeback (-1: no hints)
}

ShardStream::~ShardStream() {
  const bool unfinished = file_id_ >= 0;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    close();
  }
  if (unfinished) ::unlink(file_.c_str());  // half a shard is no shard
}

void ShardStream::close() {
  for (auto d : datasets_) H5Dclose(d);
  datasets_.clear();
  if (file_id_ >= 0) H5Fclose(file_id_);
  file_id_ = -1;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// Chunk k of dataset d at its place, the dataset extended to hold it. Filter mask 0: every
// declared filter was applied.
void ShardStream::write_chunk(std::size_t d, std::size_t k, std::uint64_t length,
                              const std::vector<std::uint8_t>& bytes) {
  Handle space{H5Dget_space(datasets_[d]), H5Sclose};
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(H5Sget_simple_extent_ndims(space.id), 1)));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  std::vector<hsize_t> offset(dims.size(), 0);
  offset[0] = k * chunk_rows_[d];
  if (dims[0] < length) {
    dims[0] = length;
    if (H5Dset_extent(datasets_[d], dims.data()) < 0)
      throw std::runtime_error(file_ + ": cannot extend dataset '" + names_[d] + "'");
  }
  if (H5Dwrite_chunk(datasets_[d], H5P_DEFAULT, 0, offset.data(), bytes.size(), bytes.data()) < 0)
    throw std::runtime_error(file_ + ": cannot write dataset '" + names_[d] + "'");
  unsynced_ += bytes.size();
}

void ShardStream::append_chunk(const std::vector<std::vector<std::uint8_t>>& encoded) {
  std::unique_lock<std::mutex> lock(hdf5_mutex());
  for (std::size_t d = 0; d < datasets_.size(); ++d) {
    if (column_of_[d] >= 0)
      write_chunk(d, appended_, (appended_ + 1) * chunk_rows_[d], encoded[column_of_[d]]);
  }
  ++appended_;
  lock.unlock();
  // Hand each MB to the disk now: by the flush, the fsync has little left to wait for.
  if (unsynced_ >= (1u << 20) && fd_ >= 0) {
    (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
    unsynced_ = 0;
  }
}

void ShardStream::finish(const std::vector<ShardDataset>& datasets) {
  std::unique_lock<std::mutex> lock(hdf5_mutex());
  if (datasets.size() != datasets_.size())
    throw std::logic_error(file_ + ": datasets do not match the layout");
  for (std::size_t d = 0; d < datasets.size(); ++d) {
    const ShardDataset& data = datasets[d];
    for (std::size_t k = column_of_[d] >= 0 ? appended_ : 0; k < data.chunk_count(); ++k) {
      write_chunk(d, k, data.length, data.chunks[k]);  // extended to its final length at once
    }
  }
  if (H5Fflush(file_id_, H5F_SCOPE_GLOBAL) < 0) throw std::runtime_error(file_ + ": cannot flush");
  close();
}

std::uint64_t write_encoded_shard(const std::string& path, const std::vector<ShardDataset>& datasets,
                                  const ShardWriteOptions& options, const std::string& encoder_name) {
  const std::string tmp = core::temporary_path_for(path);
  {
    ShardStream stream(tmp, datasets, std::vector<int>(datasets.size(), -1), options, encoder_name);
    stream.finish(datasets);
  }
  core::commit_file(tmp, path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error(path + ": cannot stat the shard just written");
  return static_cast<std::uint64_t>(st.st_size);
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

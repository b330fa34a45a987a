# Every third-party dependency is found here, once, and exposed as an imported target.

find_package(Threads REQUIRED)

# LibTorch: Debian's libtorch-dev installs TorchConfig.cmake; elsewhere pass
# -DCMAKE_PREFIX_PATH=/path/to/libtorch (LibTorch 2.x with CUDA works the same way).
find_package(Torch REQUIRED)
if(NOT TARGET trafficfm::torch)
  add_library(trafficfm::torch INTERFACE IMPORTED)
  set_target_properties(trafficfm::torch PROPERTIES
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}"
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}")
  if(TORCH_CXX_FLAGS)
    separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
    set_property(TARGET trafficfm::torch PROPERTY INTERFACE_COMPILE_OPTIONS ${_torch_flags})
  endif()
endif()

find_package(MPI REQUIRED COMPONENTS C CXX)
set(HDF5_PREFER_PARALLEL OFF)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(Boost REQUIRED COMPONENTS program_options)
find_package(GTest)
# libcrypto's SHA-256 uses the CPU's SHA extensions: checkpoints and shards hash every byte.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)

find_path(METIS_INCLUDE_DIR metis.h)
find_library(METIS_LIBRARY metis)
if(NOT METIS_INCLUDE_DIR OR NOT METIS_LIBRARY)
  message(FATAL_ERROR "METIS not found: install libmetis-dev (scripts/setup.sh does)")
endif()
add_library(trafficfm::metis UNKNOWN IMPORTED)
set_target_properties(trafficfm::metis PROPERTIES
  IMPORTED_LOCATION "${METIS_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${METIS_INCLUDE_DIR}")

add_library(trafficfm::hdf5 INTERFACE IMPORTED)
set_target_properties(trafficfm::hdf5 PROPERTIES
  INTERFACE_LINK_LIBRARIES "${HDF5_C_LIBRARIES}"
  INTERFACE_INCLUDE_DIRECTORIES "${HDF5_C_INCLUDE_DIRS}"
  INTERFACE_COMPILE_DEFINITIONS "${HDF5_C_DEFINITIONS}")

# CUDA and NCCL: detected, never required. When both are present the NCCL code paths are
# compiled (and linked) even on machines without a GPU, so CI keeps them building.
set(TRAFFICFM_HAVE_CUDA OFF)
set(TRAFFICFM_HAVE_NCCL OFF)
if(NOT DEFINED CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  set(TRAFFICFM_HAVE_CUDA ON)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(TRAFFICFM_HAVE_NCCL ON)
    add_library(trafficfm::nccl UNKNOWN IMPORTED)
    set_target_properties(trafficfm::nccl PROPERTIES
      IMPORTED_LOCATION "${NCCL_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES CUDA::cudart)
  endif()
endif()

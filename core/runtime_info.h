// What the process actually loaded at run time, as opposed to what it was built against.
// Debian's LibTorch calls BLAS through the libblas.so.3 alternative, which can resolve to the
// reference BLAS (about 8x slower than OpenBLAS): we report and warn.
#pragma once
#include <string>

namespace trafficfm::core {

struct BlasInfo {
  std::string path;     // resolved path of the loaded BLAS library ("" when none is loaded)
  std::string vendor;   // "OpenBLAS", "MKL", "BLIS", "reference" or "unknown"
  std::string details;  // e.g. OpenBLAS's own config string
  bool is_reference() const { return vendor == "reference"; }
};

BlasInfo loaded_blas();

// One-line text of the MPI library (MPI_Get_library_version; callable before MPI_Init).
std::string mpi_library_version();

}  // namespace trafficfm::core

#include "core/runtime_info.h"

#include <dlfcn.h>
#include <link.h>
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <vector>

namespace trafficfm::core {
namespace {

int collect_library(struct dl_phdr_info* info, size_t, void* data) {
  if (info->dlpi_name && info->dlpi_name[0]) {
    static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
  }
  return 0;
}

std::string resolve(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

bool contains(const std::string& text, const char* needle) { return text.find(needle) != std::string::npos; }

}  // namespace

BlasInfo loaded_blas() {
  std::vector<std::string> libraries;
  dl_iterate_phdr(collect_library, &libraries);
  BlasInfo info;
  for (const auto& name : libraries) {
    const std::string real = resolve(name);
    if (contains(real, "openblas")) {
      info = {real, "OpenBLAS", ""};
      break;
    }
    if (contains(real, "libmkl")) {
      info = {real, "MKL", ""};
      break;
    }
    if (contains(real, "blis")) {
      info = {real, "BLIS", ""};
      break;
    }
    if (contains(real, "libblas.so") || contains(real, "/blas/")) {
      info = {real, contains(real, "/blas/") ? "reference" : "unknown", ""};
    }
  }
  // OpenBLAS identifies itself; the symbol is absent from the reference BLAS.
  using ConfigFn = char* (*)();
  if (auto fn = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    info.vendor = "OpenBLAS";
    info.details = fn();
  }
  return info;
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<size_t>(length));
  const auto newline = version.find_first_of("\r\n,");
  return version.substr(0, newline);
}

}  // namespace trafficfm::core

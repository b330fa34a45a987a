#include <cstdio>
#include <string>

#include "core/runtime_info.h"
#include "launch/subcommand.h"
#include "launch/torch_module.h"

#ifdef TRAFFICFM_HAVE_NCCL
#include <nccl.h>
#endif

namespace trafficfm::launch {

const char* git_hash();  // generated at build time (cmake/write_git_version.cmake)

int print_version() {
  std::printf("trafficfm %s (git %s)\n", TRAFFICFM_VERSION, git_hash());
  std::string error;
  using Describe = int (*)(char*, std::size_t);
  if (auto describe = reinterpret_cast<Describe>(torch_module_symbol("trafficfm_torch_describe", &error))) {
    char text[256];
    describe(text, sizeof text);
    std::printf("  LibTorch   %s (libtrafficfm_torch.so, loaded on demand)\n", text);
  } else {
    std::printf("  LibTorch   NOT LOADABLE: %s\n", error.c_str());
  }
  std::printf("  MPI        %s\n", core::mpi_library_version().c_str());
#ifdef TRAFFICFM_HAVE_NCCL
  int nccl = 0;
  ncclGetVersion(&nccl);
  std::printf("  NCCL       compiled in, library %d.%d.%d\n", nccl / 10000, (nccl / 100) % 100, nccl % 100);
#else
  std::printf("  NCCL       not compiled in (no CUDA toolkit with nccl.h at build time)\n");
#endif
  const core::BlasInfo blas = core::loaded_blas();
  std::printf("  BLAS       %s %s%s%s\n", blas.vendor.empty() ? "none loaded" : blas.vendor.c_str(),
              blas.path.c_str(), blas.details.empty() ? "" : " | ", blas.details.c_str());
  if (blas.is_reference()) {
    std::fprintf(stderr,
                 "WARNING: LibTorch is running on the REFERENCE BLAS (%s), about 8x slower than "
                 "OpenBLAS.\nWARNING: install libopenblas0-openmp (scripts/setup.sh does) or run\n"
                 "WARNING:   update-alternatives --config libblas.so.3-x86_64-linux-gnu\n",
                 blas.path.c_str());
  }
  return 0;
}

}  // namespace trafficfm::launch

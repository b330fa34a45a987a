// Part of libtrafficfm_torch.so: what LibTorch reports about itself at run time.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <cstdio>

extern "C" int trafficfm_torch_describe(char* out, std::size_t size) {
  return std::snprintf(out, size, "%s, %d intra-op threads", TORCH_VERSION, at::get_num_threads());
}

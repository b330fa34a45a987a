#include "launch/torch_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace trafficfm::launch {
namespace {

std::string executable_directory() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  std::string exe(path, static_cast<std::size_t>(n));
  return exe.substr(0, exe.find_last_of('/'));
}

}  // namespace

void* torch_module(std::string* error) {
  static std::once_flag once;
  static void* handle = nullptr;
  static std::string load_error;
  std::call_once(once, [] {
    const std::string dir = executable_directory();
    for (const std::string& candidate :
         {dir + "/libtrafficfm_torch.so", dir + "/../lib/libtrafficfm_torch.so"}) {
      handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (handle) return;
      load_error += std::string(load_error.empty() ? "" : "; ") + dlerror();
    }
  });
  if (!handle && error) *error = load_error;
  return handle;
}

void* torch_module_symbol(const char* name, std::string* error) {
  void* handle = torch_module(error);
  if (!handle) return nullptr;
  void* symbol = dlsym(handle, name);
  if (!symbol && error) *error = std::string("libtrafficfm_torch.so has no symbol ") + name;
  return symbol;
}

int run_torch_subcommand(const char* name, const std::vector<std::string>& args) {
  std::string error;
  using Run = int (*)(const char*, int, const char* const*);
  auto run = reinterpret_cast<Run>(torch_module_symbol("trafficfm_torch_run", &error));
  if (!run) {
    std::fprintf(stderr, "trafficfm %s: cannot load the LibTorch module: %s\n", name, error.c_str());
    return 1;
  }
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return run(name, static_cast<int>(argv.size()), argv.data());
}

}  // namespace trafficfm::launch

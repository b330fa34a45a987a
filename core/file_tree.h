// Removing a directory tree without std::filesystem::remove_all. LibTorch 2.x wheels export
// their own copy of the std::filesystem symbols, and in a program linked straight against
// libtorch.so the dynamic linker may bind remove_all to that copy, which crashed (a call
// through a null pointer, seen with torch 2.11 + GCC 13). nftw from libc has no such double.
#pragma once
#include <string>

namespace trafficfm::core {

// Removes `path` and everything below it (symbolic links are removed, never followed). A
// missing path is not an error. Throws std::runtime_error naming the entry that could not be
// removed and why.
void remove_tree(const std::string& path);

}  // namespace trafficfm::core

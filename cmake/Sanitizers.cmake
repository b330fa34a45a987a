# CMAKE_BUILD_TYPE=Asan: a debug build with AddressSanitizer and UndefinedBehaviorSanitizer,
# used to run the unit tests over the capture parsers (captures are untrusted input).
# -Wno-maybe-uninitialized: GCC 12 at -O1 false positive inside c10::optional<at::Generator>.
# -DNDEBUG: LibTorch's headers change class layouts with it (at::RecordFunction has a debug-only
# member, read by its inline inputs()), and the library is built with it; a translation unit
# compiled without it disagrees with the library (UBSan: an invalid bool). Our own code has no
# assert(); its checks are exceptions.
set(CMAKE_CXX_FLAGS_ASAN "-O1 -g -DNDEBUG -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-maybe-uninitialized")
set(CMAKE_C_FLAGS_ASAN "${CMAKE_CXX_FLAGS_ASAN}")
set(CMAKE_EXE_LINKER_FLAGS_ASAN "-fsanitize=address,undefined")
set(CMAKE_SHARED_LINKER_FLAGS_ASAN "-fsanitize=address,undefined")
# The same for a plain Debug build (same headers, same library).
string(APPEND CMAKE_CXX_FLAGS_DEBUG " -DNDEBUG")

# LibTorch's headers dominate compile time (torch/torch.h is ~200k lines after preprocessing).
# Every target whose sources use the full torch API reuses one of two precompiled headers of
# torch.h, instead of compiling its own: each is ~570 MB on disk and ~45 s of one core, and GCC
# accepts a PCH only from a compile with the same code-generation flags, so there is one for
# position-independent code in libraries (-fPIC: the static libraries and the torch module) and
# one for executables (-fPIE: tests and benchmarks). The donors are two tiny targets built
# here. Macros a consumer adds on its command line (GTEST_HAS_PTHREAD, trafficfm_torch_EXPORTS)
# do not appear in torch's headers, so GCC keeps using the PCH (-Winvalid-pch would say
# otherwise). Sources that do not touch torch stay free of it (SKIP_PRECOMPILE_HEADERS).
set(_trafficfm_pch_header "$<$<COMPILE_LANGUAGE:CXX>:${CMAKE_CURRENT_LIST_DIR}/torch_pch.h>")
add_library(trafficfm_torch_pch_pic OBJECT ${CMAKE_CURRENT_LIST_DIR}/torch_pch_donor.cpp)
add_executable(trafficfm_torch_pch_pie ${CMAKE_CURRENT_LIST_DIR}/torch_pch_donor.cpp)
foreach(donor trafficfm_torch_pch_pic trafficfm_torch_pch_pie)
  target_link_libraries(${donor} PRIVATE trafficfm::torch)
  target_precompile_headers(${donor} PRIVATE "${_trafficfm_pch_header}")
endforeach()

function(trafficfm_use_torch target)
  cmake_parse_arguments(ARG "" "" "SKIP_PCH" ${ARGN})
  target_link_libraries(${target} PUBLIC trafficfm::torch)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_precompile_headers(${target} REUSE_FROM trafficfm_torch_pch_pie)
  else()
    target_precompile_headers(${target} REUSE_FROM trafficfm_torch_pch_pic)
  endif()
  if(ARG_SKIP_PCH)
    set_source_files_properties(${ARG_SKIP_PCH} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()

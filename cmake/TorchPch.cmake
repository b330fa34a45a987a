# LibTorch's headers dominate compile time (torch/torch.h is ~200k lines after preprocessing).
# Targets whose sources use the full torch API get one precompiled header each; sources that
# do not touch torch stay free of it (SKIP_PRECOMPILE_HEADERS on those files).
function(trafficfm_use_torch target)
  cmake_parse_arguments(ARG "" "" "SKIP_PCH" ${ARGN})
  target_link_libraries(${target} PUBLIC trafficfm::torch)
  target_precompile_headers(${target} PRIVATE
    "$<$<COMPILE_LANGUAGE:CXX>:${PROJECT_SOURCE_DIR}/cmake/torch_pch.h>")
  if(ARG_SKIP_PCH)
    set_source_files_properties(${ARG_SKIP_PCH} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()

# Route compiles through ccache. The sloppiness settings let ccache cache translation units
# that use a precompiled header (the LibTorch PCH), which it refuses by default.
if(TRAFFICFM_USE_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    set(_launcher ${CMAKE_COMMAND} -E env
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
        CCACHE_MAXSIZE=5G ${CCACHE_PROGRAM})
    set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
    message(STATUS "ccache: ${CCACHE_PROGRAM}")
  endif()
endif()

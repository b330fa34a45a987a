# Regenerates build/generated/git_version.cpp on every build, rewriting it only when the
# commit (or dirty state) changed, so `trafficfm --version` never reports a stale hash and an
# unchanged tree triggers no relink.
set(TRAFFICFM_GIT_VERSION_CPP ${CMAKE_BINARY_DIR}/generated/git_version.cpp)
add_custom_target(trafficfm_git_version
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT=${TRAFFICFM_GIT_VERSION_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/write_git_version.cmake
  BYPRODUCTS ${TRAFFICFM_GIT_VERSION_CPP}
  COMMENT "" VERBATIM)

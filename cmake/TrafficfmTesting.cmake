# Test registration helpers. Labels: unit, mpi, e2e, slurm (ctest -L LABEL runs a subset).
include(GoogleTest)

# OpenMPI refuses to run as root unless told twice; CI and these machines run as root.
set(TRAFFICFM_MPI_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none)

# `trafficfm_unit_tests` builds just the unit-test binaries (the sanitizer pass needs no more).
add_custom_target(trafficfm_unit_tests)

# trafficfm_add_gtest(NAME SOURCES... [LIBS ...] [LABELS ...] [TORCH])
function(trafficfm_add_gtest name)
  cmake_parse_arguments(ARG "TORCH" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  if(ARG_TORCH)
    trafficfm_use_torch(${name})
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  if("unit" IN_LIST ARG_LABELS)
    add_dependencies(trafficfm_unit_tests ${name})
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
               ENVIRONMENT "TRAFFICFM_BIN=$<TARGET_FILE:trafficfm>"
    DISCOVERY_TIMEOUT 60)
endfunction()

# trafficfm_add_mpi_test(NAME SOURCES... RANKS 2 4 [LIBS ...] [TORCH])
# Builds one GoogleTest binary and registers it once per rank count under
#   mpiexec -n K --oversubscribe <binary>
# Every rank runs every test; the test body talks to the other ranks through MPI.
function(trafficfm_add_mpi_test name)
  cmake_parse_arguments(ARG "TORCH" "TIMEOUT" "SOURCES;LIBS;RANKS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} MPI::MPI_CXX GTest::gtest)
  if(ARG_TORCH)
    trafficfm_use_torch(${name})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  foreach(k IN LISTS ARG_RANKS)
    add_test(NAME ${name}.np${k}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${k} --oversubscribe
              ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS})
    # 77: every test of the binary skipped (tests/mpi/mpi_gtest_main.cpp).
    set_tests_properties(${name}.np${k} PROPERTIES LABELS mpi TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77
      ENVIRONMENT "${TRAFFICFM_MPI_ENV};TRAFFICFM_BIN=$<TARGET_FILE:trafficfm>")
  endforeach()
endfunction()

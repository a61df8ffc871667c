# Smoke tests of pardit-comm-bench (perf/comm_bench), included from perf/CMakeLists.txt when
# BUILD_TESTING. MPI backend, 1 KiB..64 KiB, 2 timed iterations; the script checks exit code 0,
# "#wrong" = 0 on every row and one JSON line per row. np 3 exercises the rounding of all_gather /
# all_to_all sizes to a multiple of n * element size.
# (tests/CMakeLists.txt's PARDIT_TEST_ENV is not visible from here: same launcher settings.)
set(PARDIT_COMM_BENCH_TEST_ENV
  "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" "OMPI_MCA_rmaps_base_oversubscribe=1"
  "PARDIT_COMM_TIMEOUT_S=30")
foreach(spec "2;bf16" "3;fp32")
  list(GET spec 0 np)
  list(GET spec 1 dtype)
  set(name perf_comm_bench_smoke_np${np}_${dtype})
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/tests/perf/comm_bench_smoke.sh ${MPIEXEC_EXECUTABLE} ${np}
                   $<TARGET_FILE:pardit-comm-bench> --dtype ${dtype} --min-bytes 1K --max-bytes 64K
                   --warmup 1 --iters 2)
  set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 60 PROCESSORS ${np}
                       ENVIRONMENT "${PARDIT_COMM_BENCH_TEST_ENV}")
endforeach()

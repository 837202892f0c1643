# Runs the fuzzer for SECONDS seconds: new inputs go to WORK (a fresh folder in the build
# tree), the seed corpus SEEDS is only read. Fails when the fuzzer finds a crash.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus ${SEEDS}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the fuzzer failed (exit ${result}); the crashing input is in ${WORK}/artifacts/")
endif()
message(STATUS "the fuzzer ran ${SECONDS} s over the seeds in ${SEEDS} without a crash")

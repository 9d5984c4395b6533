# Helpers every module's tests use, so that unit tests, fuzz targets and labels look the same.
#
#   tfuse_unit_test(NAME name SOURCES a.c b.c [LIBS lib...] [LABELS l...] [TIMEOUT s])
#       a cmocka test executable registered with CTest (label "unit" plus LABELS).
#   tfuse_fuzz_target(NAME name SOURCES f.c [LIBS lib...] [SEEDS dir-or-file...] [RUNS n])
#       a target defining LLVMFuzzerTestOneInput. It is linked with our portable driver
#       (tests/fuzz/fuzz_main.c: seeds + seeded random mutations) and registered as a CTest
#       smoke run (label "fuzz"). With clang, `-DTFUSE_LIBFUZZER=ON` links libFuzzer instead.
find_library(CMOCKA_LIB cmocka REQUIRED)
option(TFUSE_LIBFUZZER "Link fuzz targets with libFuzzer (clang only)" OFF)

function(tfuse_unit_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} ${CMOCKA_LIB} Threads::Threads)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()

function(tfuse_fuzz_target)
  cmake_parse_arguments(T "" "NAME;RUNS" "SOURCES;LIBS;SEEDS" ${ARGN})
  if(NOT T_RUNS)
    set(T_RUNS 20000)
  endif()
  if(TFUSE_LIBFUZZER)
    add_executable(${T_NAME} ${T_SOURCES})
    target_compile_options(${T_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_options(${T_NAME} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${T_NAME} ${T_SOURCES} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_main.c)
  endif()
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} Threads::Threads)
  if(NOT TFUSE_LIBFUZZER)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME} --runs ${T_RUNS} ${T_SEEDS})
    set_tests_properties(${T_NAME} PROPERTIES LABELS "fuzz" TIMEOUT 300)
  endif()
endfunction()

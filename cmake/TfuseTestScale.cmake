# Run by ctest, not by CMake: every test folder lists this file in its TEST_INCLUDE_FILES (see
# tfuse_scale_test_timeouts in TfuseTesting.cmake), and ctest reads it before the folder's tests.
# It makes one knob, TFUSE_TEST_TIMEOUT_SCALE (a factor, default 1; `make test-under-load` sets
# 3), scale what a busy machine stretches:
#  - every test's TIMEOUT property (set_tests_properties is wrapped below, so the factor applies
#    when ctest runs, without reconfiguring the build);
#  - TFUSE_CONNECT_TIMEOUT_MS, the handshake's limit in every client a test starts (10 s times
#    the factor, unless already set).
# The tests' own waits read the same variable (tests/lib/timeouts.sh, tests/common/test_timeouts.h).
# ctest may read this file once per folder in one interpreter: the wrapper is defined once.
if(COMMAND _tfuse_scaled_timeout)
  return()
endif()

# Parses the factor into a fraction NUM/DEN (integers only in CMake's math) or stops ctest with
# a clear error: a typo must not silently run the suite with the default limits.
set(_tfuse_scale "$ENV{TFUSE_TEST_TIMEOUT_SCALE}")
if(_tfuse_scale STREQUAL "")
  set(_tfuse_scale 1)
endif()
if(NOT _tfuse_scale MATCHES "^([0-9]+)(\\.([0-9]?[0-9]?[0-9]?))?$")
  message(FATAL_ERROR "TFUSE_TEST_TIMEOUT_SCALE=${_tfuse_scale}: expected a factor such as 3 "
                      "or 2.5 (at most 3 decimals)")
endif()
set(_tfuse_frac "${CMAKE_MATCH_3}")
string(LENGTH "${_tfuse_frac}" _tfuse_digits)
set(_tfuse_den 1)
foreach(_i RANGE 1 3)
  if(_i LESS_EQUAL _tfuse_digits)
    math(EXPR _tfuse_den "${_tfuse_den} * 10")
  endif()
endforeach()
math(EXPR _tfuse_num "${CMAKE_MATCH_1} * ${_tfuse_den} + 0${_tfuse_frac}")
if(_tfuse_num EQUAL 0)
  message(FATAL_ERROR "TFUSE_TEST_TIMEOUT_SCALE=${_tfuse_scale}: the factor must be above 0")
endif()

# SECONDS times the factor, rounded up.
function(_tfuse_scaled_timeout seconds out)
  if(NOT seconds MATCHES "^[0-9]+$")
    set(${out} "${seconds}" PARENT_SCOPE)   # not ours to judge (e.g. a fractional limit)
    return()
  endif()
  math(EXPR v "(${seconds} * ${_tfuse_num} + ${_tfuse_den} - 1) / ${_tfuse_den}")
  set(${out} ${v} PARENT_SCOPE)
endfunction()

if(NOT _tfuse_num EQUAL _tfuse_den)
  # Each argument goes through as one bracket argument: values hold ';' (ENVIRONMENT lists,
  # backtraces), which a plain ${ARGV} would split into separate arguments.
  function(set_tests_properties)
    set(code "_set_tests_properties(")
    set(props OFF)
    set(key "")
    foreach(i RANGE 0 ${ARGC})
      if(i EQUAL ARGC)
        break()
      endif()
      set(a "${ARGV${i}}")
      if(props AND key STREQUAL "TIMEOUT")
        _tfuse_scaled_timeout("${a}" a)
      endif()
      if(props AND key STREQUAL "")
        set(key "${a}")
      else()
        set(key "")
      endif()
      if(a STREQUAL "PROPERTIES" AND NOT props)
        set(props ON)
        set(key "")
      endif()
      string(APPEND code " [==[${a}]==]")
    endforeach()
    string(APPEND code ")")
    cmake_language(EVAL CODE "${code}")
  endfunction()
  if(NOT DEFINED ENV{TFUSE_CONNECT_TIMEOUT_MS})
    math(EXPR _tfuse_ms "10000 * ${_tfuse_num} / ${_tfuse_den}")
    set(ENV{TFUSE_CONNECT_TIMEOUT_MS} ${_tfuse_ms})
  endif()
endif()

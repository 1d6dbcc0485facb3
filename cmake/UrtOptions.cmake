# urt_build: the INTERFACE target every urt target links. Warnings,
# sanitizers and the debug-check switch live here, never in CMAKE_C_FLAGS.

option(URT_WERROR "Treat warnings as errors" OFF)
set(URT_SANITIZE "" CACHE STRING "Sanitizers: empty, 'address;undefined' or 'thread'")
set(URT_DEBUG_CHECKS "" CACHE STRING "Contract assertions and memory poisoning: ON, OFF, or empty for on unless Release")

add_library(urt_build INTERFACE)
target_compile_options(urt_build INTERFACE
  -Wall -Wextra -Wno-unused-parameter
  $<$<COMPILE_LANGUAGE:C>:-Wshadow -Wstrict-prototypes -Wmissing-prototypes>
  $<$<BOOL:${URT_WERROR}>:-Werror>)
target_compile_definitions(urt_build INTERFACE _GNU_SOURCE)

set(urt_debug_checks "${URT_DEBUG_CHECKS}")
if("${urt_debug_checks}" STREQUAL "")
  if(CMAKE_BUILD_TYPE STREQUAL "Release")
    set(urt_debug_checks OFF)
  else()
    set(urt_debug_checks ON)
  endif()
endif()
message(STATUS "urt: debug checks ${urt_debug_checks}, sanitizers '${URT_SANITIZE}'")
if(urt_debug_checks)
  target_compile_definitions(urt_build INTERFACE URT_DEBUG=1)
endif()

# The fault-injection seam (urt/fault.h): on with the debug checks, so the
# release build's completion path has no hook to test.
set(URT_FAULTS "" CACHE STRING "Fault-injection seam: ON, OFF, or empty to follow the debug checks")
set(urt_faults "${URT_FAULTS}")
if("${urt_faults}" STREQUAL "")
  set(urt_faults ${urt_debug_checks})
endif()
if(urt_faults)
  target_compile_definitions(urt_build INTERFACE URT_FAULTS=1)
endif()

if(URT_SANITIZE)
  string(REPLACE ";" "," urt_san "${URT_SANITIZE}")
  target_compile_options(urt_build INTERFACE -fsanitize=${urt_san} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(urt_build INTERFACE -fsanitize=${urt_san})
endif()

# Planted bugs (issue: deterministic simulation): a build with one of them
# is how the simulator's reach is measured (`make plant`: seeds until each
# is caught). Never set in a build that is shipped or benchmarked.
#   lost_wake   a receive stream's end of file does not wake its task (1 in 3)
#   buf_twice   a freed provided buffer goes back to the ring twice (1 in 13)
#   early_free  a task ending with a single-shot operation in flight has its
#               record freed (and its drop run) before the operation's
#               last completion
set(URT_PLANT "" CACHE STRING "A planted bug: empty, lost_wake, buf_twice or early_free")
if(URT_PLANT)
  string(TOUPPER "${URT_PLANT}" _urt_plant)
  target_compile_definitions(urt_build INTERFACE URT_PLANT_${_urt_plant})
  message(WARNING "URT_PLANT=${URT_PLANT}: this build carries a planted bug")
endif()

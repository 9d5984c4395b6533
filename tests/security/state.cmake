# The node's state folder (issue 19, item 5, the state lock and DELETE's answer): state_persist
# runs real nodes under RLIMIT_FSIZE and with an unwritable vgpus.json.tmp (creations and
# deletions that cannot be saved are refused and leave nothing behind), a second node on the
# same --state (refused, naming the first one's pid), and DELETE of a vGPU a session holds (204
# only with the memory back, else 202 until GET answers 404; then the same vGPU is made again).
# state_node.c (state_lib.cmake) is the node and HTTP helpers of the state, modcache and
# ephemeral tests.
if(TARGET tfuse AND TARGET tfuse-softgpu AND TARGET prog_iso)
  include(${CMAKE_CURRENT_LIST_DIR}/state_lib.cmake)
  add_executable(state_persist state_persist.c)
  target_link_libraries(state_persist PRIVATE tfuse_sec_state)
  add_test(NAME state_persist COMMAND state_persist ${CMAKE_BINARY_DIR} $<TARGET_FILE:prog_iso>)
  set_tests_properties(state_persist PROPERTIES LABELS "security;e2e" TIMEOUT 300)
endif()

# Ephemeral vGPUs have an owner (issue 19): ephemeral_lease kills `tfuse run --vram --lease 3`
# with SIGKILL, with and without a program still using the vGPU, and checks that the node
# deletes the vGPU once nobody renews its lease and no session uses it, and that a running
# owner keeps it; plus the lease route's refusals.
if(TARGET tfuse AND TARGET tfuse-softgpu AND TARGET prog_iso)
  include(${CMAKE_CURRENT_LIST_DIR}/state_lib.cmake)
  add_executable(ephemeral_lease ephemeral_lease.c)
  target_link_libraries(ephemeral_lease PRIVATE tfuse_sec_state)
  add_test(NAME ephemeral_lease COMMAND ephemeral_lease ${CMAKE_BINARY_DIR}
           $<TARGET_FILE:prog_iso>)
  set_tests_properties(ephemeral_lease PROPERTIES LABELS "security;e2e" TIMEOUT 300)
endif()

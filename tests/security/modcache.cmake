# The module image cache (issue 19, items 5 and 6): modcache_scope runs two tenants' vGPUs on a
# node with a 5 KiB per-vGPU and 8 KiB total cache; an image the driver refuses is not cached,
# a tenant asking for another's image by hash alone (a raw session client) is told to send the
# bytes, the bounds hold with the newest images kept, and a deleted vGPU's scope goes.
# modcache_prog loads module images through the stub.
if(TARGET tfuse AND TARGET tfuse-softgpu AND TARGET tfuse_stub)
  include(${CMAKE_CURRENT_LIST_DIR}/state_lib.cmake)
  add_executable(modcache_prog modcache_prog.c)
  target_link_libraries(modcache_prog PRIVATE tfuse_stub)
  set_target_properties(modcache_prog PROPERTIES SKIP_BUILD_RPATH ON)
  add_executable(modcache_scope modcache_scope.c)
  target_link_libraries(modcache_scope PRIVATE tfuse_sec_state tfuse_transport tfuse_proto)
  add_test(NAME modcache_scope COMMAND modcache_scope ${CMAKE_BINARY_DIR}
           $<TARGET_FILE:modcache_prog>)
  set_tests_properties(modcache_scope PROPERTIES LABELS "security;e2e" TIMEOUT 300)
endif()

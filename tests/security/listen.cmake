# Listeners under floods (issue 19, item 4): the node's API (listen_api: 1,200 idle tcp
# connections, one host and many; a declared oversized body) and its session listeners
# (listen_sessions: 300 idle connections fork no worker and are dropped after the handshake
# timeout; the session caps; a refused token forks nothing), and the pool's (listen_pool: 600 idle
# connections from one host). listen_node.c is the node under test and the tests' helpers.
if(TARGET tfuse AND TARGET tfuse-softgpu)
  if(NOT TARGET tfuse_sec_node)
    add_library(tfuse_sec_node STATIC listen_node.c)
  endif()
  add_executable(listen_api listen_api.c)
  target_link_libraries(listen_api PRIVATE tfuse_sec_node)
  add_test(NAME listen_api COMMAND listen_api ${CMAKE_BINARY_DIR})
  set_tests_properties(listen_api PROPERTIES LABELS "security;e2e" TIMEOUT 300
                       SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
  if(TARGET tfuse_pool)
    add_executable(listen_pool listen_pool.c)
    target_link_libraries(listen_pool PRIVATE tfuse_sec_node)
    add_test(NAME listen_pool COMMAND listen_pool ${CMAKE_BINARY_DIR})
    set_tests_properties(listen_pool PROPERTIES LABELS "security;e2e" TIMEOUT 180
                         RUN_SERIAL TRUE)
  endif()
  if(TARGET prog_iso)
    add_executable(listen_sessions listen_sessions.c)
    target_link_libraries(listen_sessions PRIVATE tfuse_sec_node)
    add_test(NAME listen_sessions COMMAND listen_sessions ${CMAKE_BINARY_DIR}
             $<TARGET_FILE:prog_iso>)
    set_tests_properties(listen_sessions PROPERTIES LABELS "security;e2e" TIMEOUT 300
                         RUN_SERIAL TRUE)
  endif()
endif()

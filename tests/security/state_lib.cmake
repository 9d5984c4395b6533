# tfuse_sec_state: state_node.c, the node and HTTP helpers of the state, modcache and ephemeral
# tests; defined once by whichever of their part files comes first.
if(NOT TARGET tfuse_sec_state)
  pkg_check_modules(SEC_STATE_DEPS REQUIRED IMPORTED_TARGET libcurl jansson)
  add_library(tfuse_sec_state STATIC ${CMAKE_CURRENT_LIST_DIR}/state_node.c)
  target_link_libraries(tfuse_sec_state PUBLIC PkgConfig::SEC_STATE_DEPS)
endif()

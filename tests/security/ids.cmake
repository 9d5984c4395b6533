# vGPU ids and keys (issue 19, item 3). ids_rule: the one id rule (src/vgpu/vgpu_id.h) and the
# log's escaping, in process. ids_node: a real node refuses bad ids and long keys with clear
# messages and creates nothing, loads an older node's bad ids and deletes them by their
# percent-encoded paths, logs them escaped; the CLI checks --id itself.
tfuse_unit_test(NAME ids_rule SOURCES ids_rule.c LIBS tfuse_vgpu tfuse_common LABELS security)
if(TARGET tfuse AND TARGET tfuse-softgpu)
  if(NOT TARGET tfuse_sec_node)
    add_library(tfuse_sec_node STATIC listen_node.c)
  endif()
  add_executable(ids_node ids_node.c)
  target_link_libraries(ids_node PRIVATE tfuse_sec_node)
  add_test(NAME ids_node COMMAND ids_node ${CMAKE_BINARY_DIR})
  set_tests_properties(ids_node PROPERTIES LABELS "security;e2e" TIMEOUT 240)
endif()

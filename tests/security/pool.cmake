# The pool's authentication (issue 19, items 1-2): tenants, the admin, the join token and node
# credentials over HTTP against fake nodes (pool_auth.c); `tfuse pool serve`'s files and the
# CLI's credentials (pool_cli.sh).
if(TARGET tfuse_pool)
  tfuse_unit_test(NAME security_pool_auth SOURCES pool_auth.c LIBS tfuse_pool_fake_node
                  LABELS security pool TIMEOUT 120)
  target_include_directories(security_pool_auth PRIVATE ${CMAKE_SOURCE_DIR}/tests/pool)
  add_test(NAME security_pool_cli
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/pool_cli.sh $<TARGET_FILE:tfuse-pool>)
  set_tests_properties(security_pool_cli PROPERTIES LABELS "security;pool" TIMEOUT 120)
endif()

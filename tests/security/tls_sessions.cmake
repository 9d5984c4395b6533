# TLS for session connections between hosts (issue 19): tls:HOST:PORT listeners of a node with
# --tls-cert/--tls-key, clients verifying them, mismatches, nothing in clear on the wire
# (tls_sessions.sh). Needs the node, the stub, softgpu and the forwarding tests' prog_driver.
if(TARGET tfuse-softgpu AND TARGET prog_driver)
  add_test(NAME security_tls_sessions
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tls_sessions.sh $<TARGET_FILE:tfuse>
                   $<TARGET_FILE:prog_driver>)
  set_tests_properties(security_tls_sessions PROPERTIES LABELS "security;node;forwarding"
                       TIMEOUT 300)
endif()

# HTTPS for the control plane (issue 19): the pool's and the node's APIs with --tls-cert and
# --tls-key, the clients verifying against --ca-file / TFUSE_CA_FILE (tls_https.sh).
if(TARGET tfuse_pool)
  add_test(NAME security_tls_https
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tls_https.sh $<TARGET_FILE:tfuse>)
  set_tests_properties(security_tls_https PROPERTIES LABELS "security;pool;node" TIMEOUT 180)
endif()

# `make install` / `cmake --install`: what TensorFuse puts on a machine, and where.
# Included from the top-level CMakeLists.txt after every module, so each rule can check that
# its target exists (modules may be absent while they are being built).
#
# Layout under PREFIX (the binaries find their libraries relative to themselves, so the
# library folder is always PREFIX/lib, never a multiarch or lib64 directory):
#   bin/tfuse, bin/tfuse-pool, bin/tfuse-k8s (when gRPC core is installed)
#   lib/tfuse/libcuda.so.1, lib/tfuse/libnvidia-ml.so.1   the stub programs load (tfuse run)
#   lib/libtfuse-softgpu.so, lib/libtfuse-softgpu-nvml.so  softgpu, `--backend soft|auto`
#   lib/softgpu/libcuda.so.1, libnvidia-ml.so.1            softgpu under NVIDIA's names
#   include/tfuse/*.h                                      public headers
#   lib/systemd/system/tfuse-node.service, tfuse-pool.service, lib/sysusers.d/tfuse.conf
#   share/doc/tfuse/                                       README, docs, examples, deploy
#   TFUSE_SLURM_PLUGIN_DIR/tfuse_spank.so                  Slurm's plugin folder (src/slurm)
option(TFUSE_INSTALL_SYSTEMD "Install the systemd units and the sysusers.d entry" ON)

set(TFUSE_INSTALL_LIBDIR lib)   # fixed: see <exe>/../lib in src/backend and src/cli
set(TFUSE_INSTALL_DOCDIR share/doc/tfuse)

foreach(exe tfuse tfuse-pool tfuse-k8s)
  if(TARGET ${exe})
    install(TARGETS ${exe} RUNTIME DESTINATION bin)
  endif()
endforeach()

# The stub: libcuda.so.1 and libnvidia-ml.so.1 in their own folder, which `tfuse run` puts
# first on LD_LIBRARY_PATH; libnvidia-ml finds libcuda through its $ORIGIN run path.
foreach(lib tfuse_stub tfuse_nvml)
  if(TARGET ${lib})
    install(TARGETS ${lib} LIBRARY DESTINATION ${TFUSE_INSTALL_LIBDIR}/tfuse)
  endif()
endforeach()

foreach(lib tfuse-softgpu tfuse-softgpu-nvml)
  if(TARGET ${lib})
    install(TARGETS ${lib} LIBRARY DESTINATION ${TFUSE_INSTALL_LIBDIR})
  endif()
endforeach()

# lib/softgpu mirrors the build tree's symlinks (src/softgpu/CMakeLists.txt): a program run
# with it first on LD_LIBRARY_PATH gets softgpu as its driver. Created at install time so
# that DESTDIR and `cmake --install --prefix` are honoured.
set(_tfuse_softgpu_links "")
if(TARGET tfuse-softgpu)
  list(APPEND _tfuse_softgpu_links "../libtfuse-softgpu.so=libcuda.so.1" "libcuda.so.1=libcuda.so")
endif()
if(TARGET tfuse-softgpu-nvml)
  list(APPEND _tfuse_softgpu_links "../libtfuse-softgpu-nvml.so=libnvidia-ml.so.1")
endif()
if(_tfuse_softgpu_links)
  install(CODE "
    set(_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${TFUSE_INSTALL_LIBDIR}/softgpu\")
    file(MAKE_DIRECTORY \"\${_dir}\")
    foreach(_pair ${_tfuse_softgpu_links})
      string(REPLACE \"=\" \";\" _pair \"\${_pair}\")
      list(GET _pair 0 _target)
      list(GET _pair 1 _name)
      message(STATUS \"Installing: \${_dir}/\${_name} -> \${_target}\")
      file(REMOVE \"\${_dir}/\${_name}\")
      file(CREATE_LINK \"\${_target}\" \"\${_dir}/\${_name}\" SYMBOLIC)
    endforeach()
  ")
endif()

# The Slurm SPANK plugin goes where Slurm's PluginDir finds it (an absolute folder outside
# PREFIX, found in src/slurm: TFUSE_SLURM_PLUGIN_DIR; DESTDIR is honoured; docs/slurm.md).
if(TARGET tfuse_spank)
  install(TARGETS tfuse_spank LIBRARY DESTINATION ${TFUSE_SLURM_PLUGIN_DIR})
endif()

install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/tfuse DESTINATION include FILES_MATCHING PATTERN "*.h")

# Documentation, the example environment files the units read, and the Kubernetes manifests.
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${TFUSE_INSTALL_DOCDIR} OPTIONAL)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${TFUSE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/node.env
              ${CMAKE_SOURCE_DIR}/packaging/systemd/pool.env
              ${CMAKE_SOURCE_DIR}/packaging/systemd/node.conf
        DESTINATION ${TFUSE_INSTALL_DOCDIR}/examples OPTIONAL)
if(EXISTS ${CMAKE_SOURCE_DIR}/deploy)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/ DESTINATION ${TFUSE_INSTALL_DOCDIR}/deploy)
endif()

# The units name /usr/local (the default PREFIX) in their paths; the installed copies name
# the prefix actually installed to.
if(TFUSE_INSTALL_SYSTEMD)
  install(CODE "
    set(_unitdir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    file(MAKE_DIRECTORY \"\${_unitdir}\")
    foreach(_unit tfuse-node.service tfuse-pool.service)
      file(READ \"${CMAKE_SOURCE_DIR}/packaging/systemd/\${_unit}\" _text)
      string(REPLACE \"/usr/local/\" \"\${CMAKE_INSTALL_PREFIX}/\" _text \"\${_text}\")
      message(STATUS \"Installing: \${_unitdir}/\${_unit}\")
      file(WRITE \"\${_unitdir}/\${_unit}\" \"\${_text}\")
    endforeach()
  ")
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/tfuse.sysusers
          DESTINATION lib/sysusers.d RENAME tfuse.conf)
endif()

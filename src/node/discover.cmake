# tfuse_discover: device discovery through NVML (NVIDIA's or softgpu's, loaded at run time)
# and the FP16 TFLOPs table. Static and PIC; include()d from src/node/CMakeLists.txt so that
# tfuse_node can link it. Depends on include/tfuse/nvml.h and tfuse_common (paths).
add_library(tfuse_discover STATIC
  ${CMAKE_CURRENT_LIST_DIR}/discover.c
  ${CMAKE_CURRENT_LIST_DIR}/tflops.c)
target_include_directories(tfuse_discover PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(tfuse_discover PUBLIC tfuse_common ${CMAKE_DL_LIBS})
# softgpu's NVML is what `auto` falls back to on a machine without NVIDIA's driver: build it
# whenever discovery is built.
if(TARGET tfuse-softgpu-nvml)
  add_dependencies(tfuse_discover tfuse-softgpu-nvml)
endif()

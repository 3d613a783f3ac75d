# The kernel library, shared by the addon (CMakeLists.txt at the package root) and the standalone
# kernel test program (native/test). Defines the OBJECT library `gprl_kernels` from every
# native/kernels/*.cc (and *.cu when CUDA is enabled), so new kernels need no edit here.
#
# Options:
#   GPRL_CUDA                AUTO (default: CUDA when nvcc is found) | ON (required) | OFF
#   CMAKE_CUDA_ARCHITECTURES defaults to SASS for sm_75/80/86/89/90 plus compute_90 PTX, which the
#                            driver JIT-compiles for newer GPUs. Override with -DCMAKE_CUDA_ARCHITECTURES=...
# With CUDA the runtime is linked statically (CUDA::cudart_static): the binary loads on machines
# without a CUDA driver and reports CUDA as unavailable at run time.
if(TARGET gprl_kernels)
  return()
endif()

set(GPRL_CUDA "AUTO" CACHE STRING "Build the CUDA kernels: AUTO, ON or OFF")
set_property(CACHE GPRL_CUDA PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${GPRL_CUDA}" _gprl_cuda)

set(GPRL_WITH_CUDA OFF)
if(NOT _gprl_cuda STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
      set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;90-virtual")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(GPRL_WITH_CUDA ON)
  elseif(_gprl_cuda STREQUAL "ON")
    message(FATAL_ERROR "GPRL_CUDA=ON but no CUDA compiler (nvcc) was found")
  else()
    message(STATUS "gprl: nvcc not found, building the C++ path only")
  endif()
endif()
set(GPRL_WITH_CUDA ${GPRL_WITH_CUDA} CACHE INTERNAL "")

find_package(Threads REQUIRED)

file(GLOB GPRL_KERNEL_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/*.cc")
if(GPRL_WITH_CUDA)
  file(GLOB GPRL_KERNEL_CUDA_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/*.cu")
  list(APPEND GPRL_KERNEL_SOURCES ${GPRL_KERNEL_CUDA_SOURCES})
endif()

add_library(gprl_kernels OBJECT ${GPRL_KERNEL_SOURCES})
set_target_properties(gprl_kernels PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CXX_STANDARD 17
  CXX_STANDARD_REQUIRED ON
  CXX_EXTENSIONS OFF
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)
target_include_directories(gprl_kernels PUBLIC "${CMAKE_CURRENT_LIST_DIR}")
target_compile_options(gprl_kernels PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-O3 -Wall -Wextra>)
target_link_libraries(gprl_kernels PUBLIC Threads::Threads)

if(GPRL_WITH_CUDA)
  set_target_properties(gprl_kernels PROPERTIES
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CUDA_VISIBILITY_PRESET hidden
    CUDA_RUNTIME_LIBRARY Static)
  target_compile_options(gprl_kernels PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 -Xcompiler=-O3>)
  target_compile_definitions(gprl_kernels PUBLIC GPRL_WITH_CUDA)
  target_link_libraries(gprl_kernels PUBLIC CUDA::cudart_static)
  message(STATUS "gprl: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")
endif()

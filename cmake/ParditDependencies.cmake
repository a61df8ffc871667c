# Every external dependency, found once, as imported targets.
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C CXX)
# fmt: LibTorch's include folder carries its own fmt (v12) ahead of the system one, so every
# file that includes ATen sees those headers; we use them in header-only mode everywhere
# (linking Debian's libfmt 9 against v12 headers would break the ABI). For the same reason
# spdlog (built against fmt 9) is not used: src/common/log.cpp is a small rank-aware logger.
add_library(pardit_fmt INTERFACE)
target_link_libraries(pardit_fmt INTERFACE LibTorch::LibTorch)
target_compile_definitions(pardit_fmt INTERFACE FMT_HEADER_ONLY=1)
add_library(fmt::fmt ALIAS pardit_fmt)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)

# toml++, header-only mode everywhere (Debian's CMake target selects its shared-library mode,
# and the GPU machines have no toml++: there PARDIT_TOMLPP_INCLUDE or .deps/include holds the headers).
find_path(PARDIT_TOMLPP_INCLUDE toml++/toml.h HINTS ${CMAKE_SOURCE_DIR}/.deps/include REQUIRED)
add_library(pardit_tomlplusplus INTERFACE)
target_include_directories(pardit_tomlplusplus SYSTEM INTERFACE ${PARDIT_TOMLPP_INCLUDE})
target_compile_definitions(pardit_tomlplusplus INTERFACE TOML_HEADER_ONLY=1 TOML_EXCEPTIONS=1)
add_library(tomlplusplus::header_only ALIAS pardit_tomlplusplus)

pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
add_library(hwloc::hwloc ALIAS PkgConfig::HWLOC)

if(NOT TARGET hdf5::hdf5_cpp)
  add_library(hdf5::hdf5_cpp INTERFACE IMPORTED)
  target_include_directories(hdf5::hdf5_cpp INTERFACE ${HDF5_INCLUDE_DIRS})
  target_link_libraries(hdf5::hdf5_cpp INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
  target_compile_definitions(hdf5::hdf5_cpp INTERFACE ${HDF5_DEFINITIONS})
endif()

set(PARDIT_HAVE_CUDA OFF)
set(PARDIT_HAVE_CUDA_KERNELS OFF)
if(NOT PARDIT_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_package(NCCL QUIET)
  find_library(PARDIT_CUDA_DRIVER NAMES libcuda.so.1 cuda PATHS /usr/lib/x86_64-linux-gnu /usr/lib64
               NO_CACHE)
  if(CUDAToolkit_FOUND AND NCCL_FOUND AND PARDIT_CUDA_DRIVER AND NOT PARDIT_CUDA_DRIVER MATCHES "stubs")
    set(LibTorch_WITH_CUDA ON)
    set(PARDIT_HAVE_CUDA ON)
    # src/kernels: nvcc from the same toolkit; A100 and H100/H200 code plus PTX for newer GPUs,
    # unless the caller says otherwise.
    # Without nvcc the build goes on with the LibTorch paths only.
    if(NOT CMAKE_CUDA_COMPILER AND CUDAToolkit_NVCC_EXECUTABLE AND EXISTS "${CUDAToolkit_NVCC_EXECUTABLE}")
      set(CMAKE_CUDA_COMPILER ${CUDAToolkit_NVCC_EXECUTABLE})
    endif()
    if(CMAKE_CUDA_COMPILER)
      if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
      endif()
      enable_language(CUDA)
      set(PARDIT_HAVE_CUDA_KERNELS ON)
    else()
      message(WARNING "pardit: no nvcc found: building without the custom CUDA kernels of src/kernels")
    endif()
  elseif(PARDIT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PARDIT_CUDA=ON but CUDA toolkit (${CUDAToolkit_FOUND}), NCCL (${NCCL_FOUND}) "
                        "or the GPU driver (${PARDIT_CUDA_DRIVER}) is missing")
  endif()
endif()
# After the CUDA decision: the LibTorch target includes torch_cuda only in CUDA builds.
find_package(LibTorch 2.11 REQUIRED)
message(STATUS "pardit: CUDA + NCCL support ${PARDIT_HAVE_CUDA} (custom kernels ${PARDIT_HAVE_CUDA_KERNELS}); LibTorch ${LibTorch_VERSION}")

# Every external dependency, found once, as imported targets.
find_package(LibTorch 2.11 REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C CXX)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)

# toml++ ships a CMake config on Debian; on machines that only have the headers
# (the GPU machines), PARDIT_TOMLPP_INCLUDE points at them.
find_package(tomlplusplus QUIET)
if(NOT TARGET tomlplusplus::tomlplusplus)
  find_path(PARDIT_TOMLPP_INCLUDE toml++/toml.hpp
            HINTS ${CMAKE_SOURCE_DIR}/.deps/include REQUIRED)
  add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
  target_include_directories(tomlplusplus::tomlplusplus INTERFACE ${PARDIT_TOMLPP_INCLUDE})
endif()

pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
add_library(hwloc::hwloc ALIAS PkgConfig::HWLOC)

if(NOT TARGET hdf5::hdf5_cpp)
  add_library(hdf5::hdf5_cpp INTERFACE IMPORTED)
  target_include_directories(hdf5::hdf5_cpp INTERFACE ${HDF5_INCLUDE_DIRS})
  target_link_libraries(hdf5::hdf5_cpp INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
  target_compile_definitions(hdf5::hdf5_cpp INTERFACE ${HDF5_DEFINITIONS})
endif()

set(PARDIT_HAVE_CUDA OFF)
if(NOT PARDIT_CUDA STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_package(NCCL QUIET)
  find_library(PARDIT_CUDA_DRIVER NAMES libcuda.so.1 cuda PATHS /usr/lib/x86_64-linux-gnu /usr/lib64
               NO_CACHE)
  if(CUDAToolkit_FOUND AND NCCL_FOUND AND PARDIT_CUDA_DRIVER AND NOT PARDIT_CUDA_DRIVER MATCHES "stubs")
    set(LibTorch_WITH_CUDA ON)
    unset(LibTorch_FOUND)
    find_package(LibTorch 2.11 REQUIRED)
    set(PARDIT_HAVE_CUDA ON)
  elseif(PARDIT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PARDIT_CUDA=ON but CUDA toolkit (${CUDAToolkit_FOUND}), NCCL (${NCCL_FOUND}) "
                        "or the GPU driver (${PARDIT_CUDA_DRIVER}) is missing")
  endif()
endif()
message(STATUS "pardit: CUDA + NCCL support ${PARDIT_HAVE_CUDA}; LibTorch ${LibTorch_VERSION}")

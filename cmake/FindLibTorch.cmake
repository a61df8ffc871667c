# FindLibTorch: the C++ library inside the `torch` Python wheel.
#
# Imported target LibTorch::LibTorch (ATen, c10 and, when LibTorch_WITH_CUDA, the CUDA parts).
# We do not use the wheel's TorchConfig.cmake: for a CUDA wheel it insists on finding the
# CUDA toolkit, cuDNN and friends even for a CPU-only build, which the CPU machines lack.
#
# Hints: LibTorch_ROOT (the torch package folder), Python3 interpreter on PATH.
find_package(Python3 COMPONENTS Interpreter)
if(NOT LibTorch_ROOT AND Python3_Interpreter_FOUND)
  # find_spec locates the package without importing it (import needs the CUDA runtime wheels).
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c
      "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('torch').origin))"
    OUTPUT_VARIABLE LibTorch_ROOT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()

find_path(LibTorch_INCLUDE_DIR ATen/ATen.h HINTS ${LibTorch_ROOT}/include NO_DEFAULT_PATH)
find_library(LibTorch_CPU_LIBRARY torch_cpu HINTS ${LibTorch_ROOT}/lib NO_DEFAULT_PATH)
find_library(LibTorch_C10_LIBRARY c10 HINTS ${LibTorch_ROOT}/lib NO_DEFAULT_PATH)
set(_required LibTorch_INCLUDE_DIR LibTorch_CPU_LIBRARY LibTorch_C10_LIBRARY)
if(LibTorch_WITH_CUDA)
  find_library(LibTorch_CUDA_LIBRARY torch_cuda HINTS ${LibTorch_ROOT}/lib NO_DEFAULT_PATH)
  find_library(LibTorch_C10_CUDA_LIBRARY c10_cuda HINTS ${LibTorch_ROOT}/lib NO_DEFAULT_PATH)
  list(APPEND _required LibTorch_CUDA_LIBRARY LibTorch_C10_CUDA_LIBRARY)
endif()

if(LibTorch_ROOT AND EXISTS ${LibTorch_ROOT}/version.py)
  file(STRINGS ${LibTorch_ROOT}/version.py _v REGEX "^__version__")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" LibTorch_VERSION "${_v}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibTorch REQUIRED_VARS ${_required} VERSION_VAR LibTorch_VERSION)

if(LibTorch_FOUND AND NOT TARGET LibTorch::LibTorch)
  add_library(LibTorch::LibTorch INTERFACE IMPORTED)
  target_include_directories(LibTorch::LibTorch SYSTEM INTERFACE ${LibTorch_INCLUDE_DIR})
  # The wheels are built with the C++11 ABI since torch 2.7.
  target_compile_definitions(LibTorch::LibTorch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
  target_link_libraries(LibTorch::LibTorch INTERFACE ${LibTorch_CPU_LIBRARY} ${LibTorch_C10_LIBRARY})
  if(LibTorch_WITH_CUDA)
    # --no-as-needed: torch_cuda registers the CUDA backend from a static initialiser, and
    # nothing references its symbols directly, so the linker would otherwise drop it.
    target_link_libraries(LibTorch::LibTorch INTERFACE
      "-Wl,--no-as-needed" ${LibTorch_CUDA_LIBRARY} ${LibTorch_C10_CUDA_LIBRARY} "-Wl,--as-needed")
  endif()
  set_target_properties(LibTorch::LibTorch PROPERTIES INTERFACE_LINK_DIRECTORIES ${LibTorch_ROOT}/lib)
endif()
mark_as_advanced(LibTorch_INCLUDE_DIR LibTorch_CPU_LIBRARY LibTorch_C10_LIBRARY)

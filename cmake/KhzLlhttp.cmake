# llhttp: an installed CMake package when there is one, else the C sources that
# Debian's node-llhttp package installs under /usr/share/llhttp (built here into a
# static library; never copied into this repository).
set(KHZ_LLHTTP_INSTALL_TARGETS "")
set(KHZ_LLHTTP_FROM_PACKAGE 0)
find_package(llhttp CONFIG QUIET)
if(llhttp_FOUND AND TARGET llhttp::llhttp_static)
  add_library(khz::llhttp ALIAS llhttp::llhttp_static)
  set(KHZ_LLHTTP_FROM_PACKAGE 1)
  message(STATUS "khz: llhttp from its CMake package (${llhttp_DIR})")
elseif(llhttp_FOUND AND TARGET llhttp::llhttp)
  add_library(khz::llhttp ALIAS llhttp::llhttp)
  set(KHZ_LLHTTP_FROM_PACKAGE 1)
  message(STATUS "khz: llhttp from its CMake package (${llhttp_DIR})")
else()
  find_path(KHZ_LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include/llhttp NO_DEFAULT_PATH)
  find_path(KHZ_LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
  if(NOT KHZ_LLHTTP_INCLUDE_DIR OR NOT KHZ_LLHTTP_SOURCE_DIR)
    message(FATAL_ERROR "khz needs llhttp: install Debian's node-llhttp package "
                        "(scripts/install-deps.sh does) or an llhttp CMake package")
  endif()
  add_library(khz_llhttp STATIC ${KHZ_LLHTTP_SOURCE_DIR}/llhttp.c ${KHZ_LLHTTP_SOURCE_DIR}/api.c
                                ${KHZ_LLHTTP_SOURCE_DIR}/http.c)
  target_include_directories(khz_llhttp PUBLIC $<BUILD_INTERFACE:${KHZ_LLHTTP_INCLUDE_DIR}>)
  set_target_properties(khz_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
  # Generated code: its warnings are not ours to fix.
  target_compile_options(khz_llhttp PRIVATE -w)
  add_library(khz::llhttp ALIAS khz_llhttp)
  set(KHZ_LLHTTP_INSTALL_TARGETS khz_llhttp)
  file(STRINGS ${KHZ_LLHTTP_INCLUDE_DIR}/llhttp.h _v REGEX "#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)")
  string(REGEX REPLACE "[^0-9]+" "." _v "${_v}")
  message(STATUS "khz: llhttp built from ${KHZ_LLHTTP_SOURCE_DIR} (version${_v})")
endif()

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

  # More builds of the same llhttp.c, each with every external symbol it defines renamed
  # (a prefix) so that they link next to the stock one. Same source, same state layout
  # and state numbers: one llhttp_t works with any of them.
  #   hooked: with khz's own hooks (src/http/llhttp_hooks.h, forced in first) instead of
  #     api.c's settings lookups: the events khz does not use compile to nothing. What
  #     khz's parser runs.
  #   SSE4.2 (x86-64): llparse's SSE4.2 fast paths (header values and tokens 16 bytes a
  #     step with pcmpestri) are compiled in only under __SSE4_2__; chosen at run time
  #     when the CPU has SSE4.2 (src/http/llhttp_run.hpp). A hooked one for the parser,
  #     a stock one for the stock path and the benchmark's llhttp baseline.
  file(STRINGS ${KHZ_LLHTTP_SOURCE_DIR}/llhttp.c _defs REGEX "^int llhttp__internal")
  set(_internal_names)
  foreach(_line IN LISTS _defs)
    string(REGEX MATCH "llhttp__internal[a-z_0-9]*" _name "${_line}")
    if(_name)
      list(APPEND _internal_names ${_name})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _internal_names)
  if(NOT "llhttp__internal_execute" IN_LIST _internal_names)
    message(FATAL_ERROR "khz: llhttp.c does not define llhttp__internal_execute as expected")
  endif()
  set(KHZ_LLHTTP_HOOKS_HEADER ${CMAKE_CURRENT_LIST_DIR}/../src/http/llhttp_hooks.h)
  function(khz_llhttp_variant target prefix hooks)
    set(_renames)
    foreach(_name IN LISTS _internal_names)
      list(APPEND _renames "${_name}=${prefix}${_name}")
    endforeach()
    add_library(${target} OBJECT ${KHZ_LLHTTP_SOURCE_DIR}/llhttp.c)
    target_include_directories(${target} PRIVATE ${KHZ_LLHTTP_INCLUDE_DIR})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
    target_compile_options(${target} PRIVATE -w ${ARGN})
    target_compile_definitions(${target} PRIVATE ${_renames})
    if(hooks)
      target_compile_definitions(${target} PRIVATE KHZ_LLHTTP_HOOKS_IMPL=1)
      target_compile_options(${target} PRIVATE -include ${KHZ_LLHTTP_HOOKS_HEADER})
      set_property(TARGET ${target} APPEND PROPERTY OBJECT_DEPENDS ${KHZ_LLHTTP_HOOKS_HEADER})
    endif()
    target_sources(khz_llhttp PRIVATE $<TARGET_OBJECTS:${target}>)
  endfunction()

  option(KHZ_LLHTTP_HOOKS "Also build llhttp with khz's own hooks, for khz's parser" ON)
  set(KHZ_LLHTTP_HOOKS_BUILT OFF)
  if(KHZ_LLHTTP_HOOKS)
    khz_llhttp_variant(khz_llhttp_hooked khz_hooked_ ON)
    target_compile_definitions(khz_llhttp INTERFACE KHZ_LLHTTP_HOOKS=1)
    set(KHZ_LLHTTP_HOOKS_BUILT ON)
  endif()

  include(CheckCCompilerFlag)
  check_c_compiler_flag(-msse4.2 KHZ_CC_HAS_MSSE42)
  option(KHZ_LLHTTP_SSE42 "Also build llhttp with SSE4.2, chosen at run time (x86-64)" ON)
  set(KHZ_LLHTTP_SSE42_BUILT OFF)
  if(KHZ_LLHTTP_SSE42 AND KHZ_CC_HAS_MSSE42 AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    khz_llhttp_variant(khz_llhttp_sse42 khz_sse42_ OFF -msse4.2)
    if(KHZ_LLHTTP_HOOKS)
      khz_llhttp_variant(khz_llhttp_hooked_sse42 khz_hooked_sse42_ ON -msse4.2)
    endif()
    target_compile_definitions(khz_llhttp INTERFACE KHZ_LLHTTP_SSE42=1)
    set(KHZ_LLHTTP_SSE42_BUILT ON)
  endif()
  add_library(khz::llhttp ALIAS khz_llhttp)
  set(KHZ_LLHTTP_INSTALL_TARGETS khz_llhttp)
  file(STRINGS ${KHZ_LLHTTP_INCLUDE_DIR}/llhttp.h _v REGEX "#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH)")
  string(REGEX REPLACE "[^0-9]+" "." _v "${_v}")
  message(STATUS "khz: llhttp built from ${KHZ_LLHTTP_SOURCE_DIR} (version${_v}; hooked build: ${KHZ_LLHTTP_HOOKS_BUILT}; SSE4.2 builds: ${KHZ_LLHTTP_SSE42_BUILT})")
endif()

# KHZ_SANITIZE=address,undefined (or thread) instruments every target of the build,
# GoogleTest included, so that container overflow annotations and TSan see all code.
if(KHZ_SANITIZE)
  set(_khz_san_flags -fsanitize=${KHZ_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options(${_khz_san_flags})
  add_link_options(-fsanitize=${KHZ_SANITIZE})
  message(STATUS "khz: sanitizers: ${KHZ_SANITIZE}")
endif()

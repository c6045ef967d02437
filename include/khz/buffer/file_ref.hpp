#pragma once
// file_ref: a shared, read-only handle on an open file, for file regions in a link_buffer
// (link_buffer::append_file). It owns its descriptor and closes it when the last
// std::shared_ptr to it goes: a region queued on a connection keeps the file open until
// its bytes were sent (or the connection dropped them), whatever the code that queued it
// does in between.
//
// Threading: immutable after construction; shared_ptr copies may cross threads. The
// descriptor is only used with positional reads (pread, sendfile with an explicit
// offset), so several regions of one file_ref never disturb each other.

#include <khz/base/config.hpp>
#include <khz/base/result.hpp>

#include <memory>
#include <string>

KHZ_BEGIN_NAMESPACE

class file_ref {
 public:
  // Adopts `fd` (a descriptor open for reading); the destructor closes it.
  explicit file_ref(int fd) noexcept : fd_(fd) {}
  ~file_ref();
  file_ref(const file_ref&) = delete;
  file_ref& operator=(const file_ref&) = delete;

  // Opens `path` read-only and close-on-exec. Errors are the system's (ENOENT, EACCES...).
  static result<std::shared_ptr<const file_ref>> open(const std::string& path);

  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

KHZ_END_NAMESPACE

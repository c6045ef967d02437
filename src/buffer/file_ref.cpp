#include <khz/buffer/file_ref.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

KHZ_BEGIN_NAMESPACE

file_ref::~file_ref() {
  if (fd_ >= 0) ::close(fd_);
}

result<std::shared_ptr<const file_ref>> file_ref::open(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return system_error_code(errno);
  return std::make_shared<const file_ref>(fd);
}

KHZ_END_NAMESPACE

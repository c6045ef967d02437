// The epoll backend's direct socket calls (src/net/sys_io.hpp): the kernel's answers,
// bytes or -errno, on a socket pair.
#include "net/sys_io.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace {

namespace sys = khz::detail::sys;

struct socket_pair {
  int fd[2] = {-1, -1};
  socket_pair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd) != 0) fd[0] = fd[1] = -1;
  }
  ~socket_pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

TEST(sys_io, recv_send_and_sendmsg_return_bytes_or_minus_errno) {
  socket_pair sp;
  ASSERT_GE(sp.fd[0], 0);
  char buf[64];
  errno = 0;
  EXPECT_EQ(sys::recv(sp.fd[0], buf, sizeof buf, 0), -EAGAIN);  // nothing to read yet
  if (sys::direct) {
    EXPECT_EQ(errno, 0);  // not touched (libc's calls, under TSan, set it)
  }
  EXPECT_EQ(sys::send(sp.fd[1], "hello", 5, MSG_NOSIGNAL), 5);
  iovec iov[2] = {{const_cast<char*>(" wide"), 5}, {const_cast<char*>(" world"), 6}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  EXPECT_EQ(sys::sendmsg(sp.fd[1], &msg, MSG_NOSIGNAL), 11);
  EXPECT_EQ(sys::recv(sp.fd[0], buf, sizeof buf, 0), 16);
  EXPECT_EQ(std::string(buf, 16), "hello wide world");
  EXPECT_EQ(sys::recv(sp.fd[0], buf, sizeof buf, 0), -EAGAIN);
  // The peer gone: end of stream for a reader, EPIPE (no SIGPIPE) for a writer.
  ::close(sp.fd[1]);
  sp.fd[1] = -1;
  EXPECT_EQ(sys::recv(sp.fd[0], buf, sizeof buf, 0), 0);
  EXPECT_EQ(sys::send(sp.fd[0], "x", 1, MSG_NOSIGNAL), -EPIPE);
  EXPECT_EQ(sys::recv(-1, buf, sizeof buf, 0), -EBADF);
}

}  // namespace

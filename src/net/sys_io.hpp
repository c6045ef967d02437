#pragma once
// Internal: the socket calls of the epoll backend's hot path, made straight to the
// kernel.
//
// glibc's recv(), send() and sendmsg() are cancellation points: each call switches the
// thread's cancellation state on and off around the syscall (two calls and atomic
// updates of a thread-local word), about 1 % of the server's CPU time per request under
// the echo benchmark (perf). khz never cancels its threads (a loop stops by being told
// to), so the loop thread makes these three calls itself. The results are the kernel's:
// bytes, or -errno (errno is not touched, except through the libc calls below).
//
// Under ThreadSanitizer the libc calls stay: TSan's interceptors of recv/send are what
// tell it that a send in one thread happens before the matching recv in another, and
// tests with a client and a server in one process rely on that ordering.
#include <khz/base/config.hpp>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#if defined(__SANITIZE_THREAD__)
#define KHZ_SYS_IO_LIBC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KHZ_SYS_IO_LIBC 1
#endif
#endif
#ifndef KHZ_SYS_IO_LIBC
#define KHZ_SYS_IO_LIBC 0
#endif

KHZ_BEGIN_NAMESPACE
namespace detail::sys {

#if !KHZ_SYS_IO_LIBC && defined(__x86_64__) && defined(__linux__)
inline constexpr bool direct = true;  // straight to the kernel (else: libc's calls)

// The x86-64 Linux syscall convention: number in rax, arguments in rdi, rsi, rdx, r10,
// r8, r9; the kernel clobbers rcx and r11 and returns in rax.
inline long syscall6(long number, long a1, long a2, long a3, long a4, long a5, long a6) noexcept {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

inline ssize_t recv(int fd, void* data, std::size_t len, int flags) noexcept {
  return syscall6(SYS_recvfrom, fd, reinterpret_cast<long>(data), static_cast<long>(len), flags, 0, 0);
}
inline ssize_t send(int fd, const void* data, std::size_t len, int flags) noexcept {
  return syscall6(SYS_sendto, fd, reinterpret_cast<long>(data), static_cast<long>(len), flags, 0, 0);
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return syscall6(SYS_sendmsg, fd, reinterpret_cast<long>(msg), flags, 0, 0, 0);
}
#else
inline constexpr bool direct = false;

inline ssize_t from_libc(ssize_t r) noexcept { return r < 0 ? -errno : r; }
inline ssize_t recv(int fd, void* data, std::size_t len, int flags) noexcept {
  return from_libc(::recv(fd, data, len, flags));
}
inline ssize_t send(int fd, const void* data, std::size_t len, int flags) noexcept {
  return from_libc(::send(fd, data, len, flags));
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept { return from_libc(::sendmsg(fd, msg, flags)); }
#endif

}  // namespace detail::sys
KHZ_END_NAMESPACE

// link_buffer file regions (append_file): order with memory, which APIs see the region
// and which read the file, slicing and moving, materialize() on a file that shrank, and
// the descriptor's lifetime.
#include <gtest/gtest.h>
#include <khz/buffer/link_buffer.hpp>

#include "support/test_support.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace {

using khz::file_ref;
using khz::link_buffer;

std::string pattern(std::size_t n, unsigned seed = 3) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 11 + seed) % 26);
  return s;
}

// A temporary file holding `data`, removed at scope exit.
struct temp_file {
  explicit temp_file(const std::string& data) {
    char name[] = "/tmp/khz-file-region-XXXXXX";
    int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path = name;
    EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  ~temp_file() { ::unlink(path.c_str()); }
  std::shared_ptr<const file_ref> open() const {
    auto f = file_ref::open(path);
    EXPECT_TRUE(f.has_value());
    return f ? *f : nullptr;
  }
  std::string path;
};

std::string contents(const link_buffer& b) {
  std::string out(b.size(), '\0');
  EXPECT_EQ(b.copy_to({out.data(), out.size()}), b.size());
  return out;
}

TEST(file_region, keeps_its_place_between_memory_and_is_not_read_by_region_apis) {
  khz::test::fd_leak_guard guard;
  const std::string data = pattern(100000);
  temp_file tf(data);
  link_buffer b;
  b.append("before|");
  b.append_file(tf.open(), 1000, 50000);
  b.append("|after");
  EXPECT_EQ(b.pending(), 7u + 50000 + 6);
  b.flush();
  EXPECT_EQ(b.size(), 7u + 50000 + 6);
  EXPECT_TRUE(b.has_file());

  iovec iov[8];
  ASSERT_EQ(b.readable_iovecs(iov), 1u) << "memory before the region only";
  EXPECT_EQ(std::string_view(static_cast<char*>(iov[0].iov_base), iov[0].iov_len), "before|");
  EXPECT_EQ(b.front_file().file, nullptr) << "memory comes first";

  b.skip(7);
  auto f = b.front_file();
  ASSERT_NE(f.file, nullptr);
  EXPECT_EQ(f.offset, 1000u);
  EXPECT_EQ(f.length, 50000u);
  EXPECT_EQ(b.readable_iovecs(iov), 0u) << "a region comes first: no iovec";
  b.skip(20000);  // as a partial sendfile would
  f = b.front_file();
  ASSERT_NE(f.file, nullptr);
  EXPECT_EQ(f.offset, 21000u);
  EXPECT_EQ(f.length, 30000u);
  EXPECT_TRUE(b.has_file()) << "skip() does not read the file";
  b.skip(30000);
  EXPECT_EQ(b.front_file().file, nullptr);
  ASSERT_EQ(b.readable_iovecs(iov), 1u);
  EXPECT_EQ(std::string_view(static_cast<char*>(iov[0].iov_base), iov[0].iov_len), "|after");
  b.release();
  EXPECT_FALSE(b.has_file()) << "the consumed region was released";
  EXPECT_EQ(contents(b), "|after");
}

TEST(file_region, byte_readers_read_the_file_in_order) {
  khz::test::fd_leak_guard guard;
  const std::string data = pattern(70000);
  temp_file tf(data);
  const std::string expected = "GET " + data.substr(5, 60000) + "\r\n\r\nEND";
  {
    link_buffer b;
    b.append("GET ");
    b.append_file(tf.open(), 5, 60000);
    b.append("\r\n\r\nEND");
    b.flush();
    EXPECT_EQ(contents(b), expected) << "copy_to";
    EXPECT_FALSE(b.has_file()) << "read once into memory";
  }
  {
    link_buffer b;
    b.append("GET ");
    b.append_file(tf.open(), 5, 60000);
    b.append("\r\n\r\nEND");
    b.flush();
    EXPECT_EQ(b.find("\r\n\r\n"), 4u + 60000);
  }
  {
    link_buffer b;
    b.append_file(tf.open(), 5, 60000);
    b.flush();
    EXPECT_EQ(b.peek(10), data.substr(5, 10));
    EXPECT_EQ(b.front().substr(0, 3), data.substr(5, 3));
  }
  {
    link_buffer b;
    b.append("x");
    b.append_file(tf.open(), 0, 100);
    b.flush();
    std::string seen;
    b.for_each_chunk([&](std::string_view chunk) { seen.append(chunk); });
    EXPECT_EQ(seen, "x" + data.substr(0, 100));
    EXPECT_EQ(b.read_string(b.size()), "x" + data.substr(0, 100));
  }
}

TEST(file_region, slices_share_the_region_and_moves_carry_it) {
  khz::test::fd_leak_guard guard;
  const std::string data = pattern(10000);
  temp_file tf(data);
  link_buffer b;
  b.append("ab");
  b.append_file(tf.open(), 100, 5000);
  b.append("cd");
  b.flush();
  link_buffer head = b.slice(1002);  // "ab" + 1000 bytes of the region
  EXPECT_TRUE(head.has_file());
  EXPECT_EQ(b.size(), 4000u + 2);
  auto f = b.front_file();
  ASSERT_NE(f.file, nullptr);
  EXPECT_EQ(f.offset, 1100u);
  EXPECT_EQ(f.length, 4000u);

  link_buffer out;
  out.append("<");
  out.append(std::move(b));
  EXPECT_TRUE(out.has_file());
  EXPECT_FALSE(b.has_file());
  out.flush();
  EXPECT_EQ(contents(out), "<" + data.substr(1100, 4000) + "cd");
  EXPECT_EQ(contents(head), "ab" + data.substr(100, 1000));
}

TEST(file_region, the_descriptor_closes_with_the_last_buffer_holding_the_region) {
  const std::size_t before = khz::test::open_fd_count();
  temp_file tf("hello world");
  {
    link_buffer b;
    b.append_file(tf.open(), 0, 11);
    EXPECT_EQ(khz::test::open_fd_count(), before + 1);
    b.flush();
    link_buffer s = b.slice(5);
    b.clear();
    EXPECT_EQ(khz::test::open_fd_count(), before + 1) << "the slice keeps the file";
    EXPECT_EQ(s.read_string(5), "hello");
    s.release();
  }
  EXPECT_EQ(khz::test::open_fd_count(), before);
}

TEST(file_region, materialize_reports_a_file_that_shrank) {
  khz::test::fd_leak_guard guard;
  const std::string data = pattern(8192);
  temp_file tf(data);
  link_buffer b;
  b.append_file(tf.open(), 0, 8192);
  ASSERT_EQ(::truncate(tf.path.c_str(), 4096), 0);
  b.flush();
  auto r = b.materialize();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::error_code(ENODATA, std::system_category()));
  EXPECT_FALSE(b.has_file());
  const std::string got = contents(b);
  ASSERT_EQ(got.size(), 8192u);
  EXPECT_EQ(got.substr(0, 4096), data.substr(0, 4096));
  EXPECT_EQ(got.substr(4096), std::string(4096, '\0')) << "missing bytes read as NUL";
  link_buffer empty;
  EXPECT_TRUE(empty.materialize().has_value());
}

TEST(file_region, open_reports_the_system_error) {
  auto f = file_ref::open("/nonexistent/khz/file");
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error(), std::error_code(ENOENT, std::system_category()));
}

}  // namespace

#include <gtest/gtest.h>
#include <khz/buffer/link_buffer.hpp>
TEST(smoke, append_next) {
  khz::link_buffer b;
  b.append("abc");
  b.flush();
  EXPECT_EQ(b.next(3), "abc");
}

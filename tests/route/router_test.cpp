#include <khz/route/router.hpp>
#include <gtest/gtest.h>
TEST(router_smoke, basic) {
  khz::basic_router<int> r;
  r.get("/a/b", 1);
  auto m = r.match("GET", "/a/b");
  ASSERT_TRUE(m.found());
}

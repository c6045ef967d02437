// Property test over random tables and messy paths (mixed case, "//", ".", "..", %XX escapes)
// with every combination of options: no crash, coherent results, and every redirect leads to a
// route — following its Location (as a client would) matches at once, so no redirect loops.

#include "route_test_util.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace route_test;

TEST(route_property, redirects_lead_to_routes) {
  const std::uint64_t seed = khz::test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const std::vector<std::string> words = {"a", "B", "ab", "Ab", "users", "Repos", "x.y"};

  for (int round = 0; round < 64; ++round) {
    khz::router_options o;
    o.redirect_trailing_slash = (round & 1) != 0;
    o.redirect_fixed_path = (round & 2) != 0;
    o.remove_extra_slash = (round & 4) != 0;
    o.use_raw_path = (round & 8) != 0;
    o.handle_method_not_allowed = (round & 16) != 0;
    router r(o);
    std::set<std::string> patterns;
    const std::size_t count = 1 + pick(20);
    while (patterns.size() < count) {
      std::string p;
      const std::size_t depth = 1 + pick(3);
      for (std::size_t d = 0; d < depth; ++d) {
        p += '/';
        const std::size_t kind = pick(8);
        if (d + 1 == depth && kind == 0) {
          p += "*rest";
          break;
        }
        if (kind < 2) {
          p += ":p" + std::to_string(d);
        } else if (!(kind == 2 && d + 1 == depth)) {
          p += words[pick(words.size())];
        }
      }
      patterns.insert(p);
    }
    for (const auto& p : patterns) {
      r.get(p, h(p));
      if (pick(3) == 0) r.post(p, h("post " + p));
    }

    for (int q = 0; q < 200; ++q) {
      std::string path;
      const std::size_t depth = 1 + pick(4);
      for (std::size_t d = 0; d < depth; ++d) {
        path += '/';
        switch (pick(10)) {
          case 0: break;  // empty segment
          case 1: path += '.'; break;
          case 2: path += ".."; break;
          case 3: path += "%41%2f"; break;
          case 4: path += "%zz"; break;
          default: {
            std::string w = words[pick(words.size())];
            for (char& c : w) {
              if (pick(3) == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            }
            path += w;
          }
        }
      }
      const std::string_view method = pick(4) == 0 ? "POST" : "GET";
      SCOPED_TRACE(std::string(method) + " " + path + " options " + std::to_string(round));
      const auto m = r.match(method, path, "k=v");
      switch (m.kind) {
        case khz::route_match_kind::found:
          ASSERT_NE(m.handlers, nullptr);
          EXPECT_TRUE(patterns.count(std::string(m.full_path)) == 1);
          EXPECT_EQ(m.status, 200);
          break;
        case khz::route_match_kind::redirect: {
          EXPECT_TRUE(o.redirect_trailing_slash || o.redirect_fixed_path);
          EXPECT_EQ(m.status, method == "GET" ? 301 : 308);
          EXPECT_EQ(m.handlers, nullptr);
          ASSERT_GE(m.location.size(), 5u);
          ASSERT_EQ(m.location.substr(m.location.size() - 4), "?k=v");
          const std::string next = m.location.substr(0, m.location.size() - 4);
          ASSERT_EQ(next.front(), '/');
          const auto again = r.match(method, next);
          EXPECT_EQ(again.kind, khz::route_match_kind::found) << "redirected to " << next;
          break;
        }
        case khz::route_match_kind::not_found:
          EXPECT_EQ(m.status, 404);
          EXPECT_TRUE(m.params.empty());
          break;
        case khz::route_match_kind::method_not_allowed:
          EXPECT_TRUE(o.handle_method_not_allowed);
          EXPECT_EQ(m.status, 405);
          EXPECT_EQ(m.allow, method == "GET" ? "POST" : "GET");
          break;
      }
    }
  }
}

}  // namespace

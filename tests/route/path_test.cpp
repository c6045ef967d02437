// Path helpers: clean_path (against a table and a reference), unescape, escape.

#include <khz/route/path.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

TEST(route_path, clean_path_table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "/"},
      {"/", "/"},
      {"//", "/"},
      {"abc", "/abc"},
      {"/abc", "/abc"},
      {"/abc/", "/abc/"},
      {"a/b/c", "/a/b/c"},
      {"/a//b///c", "/a/b/c"},
      {"/a/b//", "/a/b/"},
      {"/./", "/"},
      {"/.", "/"},
      {"/a/.", "/a/"},
      {"/a/./b", "/a/b"},
      {"/a/b/..", "/a"},
      {"/a/b/../", "/a/"},
      {"/a/b/../c", "/a/c"},
      {"/a/../..", "/"},
      {"/../a", "/a"},
      {"/..", "/"},
      {"..", "/"},
      {"../../a/", "/a/"},
      {"/a/b/c/../../../d", "/d"},
      {"/abc/def/../ghi/./jkl/", "/abc/ghi/jkl/"},
      {"/.../a", "/.../a"},
      {"/..a/b", "/..a/b"},
      {"/a./b.", "/a./b."},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(khz::clean_path(in), want) << "input: '" << in << "'";
    EXPECT_EQ(khz::is_clean_path(in), in == want) << "input: '" << in << "'";
    // Cleaning is idempotent.
    EXPECT_EQ(khz::clean_path(want), want);
    EXPECT_TRUE(khz::is_clean_path(want)) << want;
  }
}

TEST(route_path, clean_path_to_fits_in_size_plus_one) {
  // The documented bound: never more than path.size() + 1 bytes.
  for (const std::string in : {"", "a", "a/", ".", "a/.", "x/y/z", "//"}) {
    std::string buf(in.size() + 1, '\0');
    const std::size_t n = khz::clean_path_to(in, buf.data());
    EXPECT_LE(n, in.size() + 1);
    EXPECT_EQ(buf.substr(0, n), khz::clean_path(in));
  }
}

TEST(route_path, unescape) {
  EXPECT_EQ(khz::unescape_path("/a%20b"), "/a b");
  EXPECT_EQ(khz::unescape_path("%2F%2f"), "//");
  EXPECT_EQ(khz::unescape_path("%C3%A9"), "\xc3\xa9");
  EXPECT_EQ(khz::unescape_path("a+b"), "a+b");
  EXPECT_EQ(khz::unescape_path("100%"), "100%");
  EXPECT_EQ(khz::unescape_path("%4"), "%4");
  EXPECT_EQ(khz::unescape_path("%zz%41"), "%zzA");
  EXPECT_EQ(khz::unescape_path("%00"), std::string(1, '\0'));
  EXPECT_EQ(khz::unescape_path(""), "");
}

TEST(route_path, escape_round_trips) {
  EXPECT_EQ(khz::escape_path("/a b/c%d"), "/a%20b/c%25d");
  EXPECT_EQ(khz::escape_path("/users/:id@x;v=1"), "/users/:id@x;v=1");
  EXPECT_EQ(khz::escape_path("/caf\xc3\xa9?#"), "/caf%C3%A9%3F%23");
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(khz::unescape_path(khz::escape_path(all)), all);
}

}  // namespace

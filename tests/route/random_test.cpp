// Randomized: random route tables matched against a naive reference matcher that applies the
// documented rules segment by segment (static > :param > *catch-all, best first, with every
// pattern considered), with redirects off so that only matching is compared.

#include "route_test_util.hpp"
#include "support/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace route_test;

std::vector<std::string> split(const std::string& path) {  // "/a//b/" -> {"a", "", "b", ""}
  std::vector<std::string> out;
  std::size_t i = 1;
  while (true) {
    const std::size_t e = path.find('/', i);
    out.push_back(path.substr(i, e == std::string::npos ? std::string::npos : e - i));
    if (e == std::string::npos) break;
    i = e + 1;
  }
  return out;
}

struct ref_result {
  std::string pattern;
  std::vector<std::pair<std::string, std::string>> params;
};

// Ranks per segment (0 static, 1 param, 2 catch-all) or nullopt when `pattern` does not match.
std::optional<std::pair<std::vector<int>, ref_result>> ref_match(const std::string& pattern,
                                                                 const std::string& path) {
  const auto ps = split(pattern);
  const auto xs = split(path);
  std::vector<int> ranks;
  ref_result res{pattern, {}};
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const std::string& p = ps[i];
    if (!p.empty() && p[0] == '*') {
      if (i >= xs.size()) return std::nullopt;
      std::string rest;
      for (std::size_t j = i; j < xs.size(); ++j) rest += (j > i ? "/" : "") + xs[j];
      ranks.push_back(2);
      res.params.emplace_back(p.substr(1), rest);
      return std::make_pair(ranks, res);
    }
    if (i >= xs.size()) return std::nullopt;
    if (!p.empty() && p[0] == ':') {
      if (xs[i].empty()) return std::nullopt;
      ranks.push_back(1);
      res.params.emplace_back(p.substr(1), xs[i]);
    } else {
      if (p != xs[i]) return std::nullopt;
      ranks.push_back(0);
    }
  }
  if (ps.size() != xs.size()) return std::nullopt;
  return std::make_pair(ranks, res);
}

std::optional<ref_result> reference(const std::vector<std::string>& patterns, const std::string& path) {
  std::optional<std::pair<std::vector<int>, ref_result>> best;
  for (const auto& p : patterns) {
    auto m = ref_match(p, path);
    if (m && (!best || m->first < best->first)) best = std::move(m);
  }
  if (!best) return std::nullopt;
  return best->second;
}

TEST(route_random, matches_reference) {
  const std::uint64_t seed = khz::test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::string> words = {"a", "b", "ab", "abc", "ba", "x"};
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };

  for (int round = 0; round < 150; ++round) {
    // Patterns: parameter names depend on the depth only, so no two routes conflict.
    std::set<std::string> unique;
    const std::size_t count = 1 + pick(25);
    while (unique.size() < count) {
      const std::size_t depth = 1 + pick(4);
      std::string p;
      for (std::size_t d = 0; d < depth; ++d) {
        const std::size_t kind = pick(10);
        p += '/';
        if (d + 1 == depth && kind == 0) {
          p += "*rest";
          break;
        }
        if (kind < 3) {
          p += ":p" + std::to_string(d);
        } else if (kind == 3 && d + 1 == depth) {
          // trailing slash: an empty last segment
        } else {
          p += words[pick(words.size())];
        }
      }
      unique.insert(p);
    }
    const std::vector<std::string> patterns(unique.begin(), unique.end());
    router r(khz::router_options{.redirect_trailing_slash = false});
    router tsr;  // default options: trailing-slash redirects on
    for (const auto& p : patterns) {
      r.get(p, h(p));
      tsr.get(p, h(p));
    }

    for (int q = 0; q < 60; ++q) {
      std::string path;
      const std::size_t depth = 1 + pick(5);
      for (std::size_t d = 0; d < depth; ++d) {
        path += '/';
        const std::size_t kind = pick(8);
        if (kind == 0) continue;  // empty segment
        path += kind == 1 ? "zz" : words[pick(words.size())];
      }
      SCOPED_TRACE("path " + path);
      const auto want = reference(patterns, path);
      const auto got = r.match("GET", path);
      if (!want) {
        EXPECT_EQ(got.kind, khz::route_match_kind::not_found);
        // With redirects on: a redirect exactly when the other trailing-slash form matches.
        const std::string toggled =
            path.back() == '/' ? path.substr(0, path.size() - 1) : path + "/";
        const bool other_form = path != "/" && !toggled.empty() && reference(patterns, toggled);
        const auto redirected = tsr.match("GET", path);
        if (other_form) {
          EXPECT_EQ(redirected.kind, khz::route_match_kind::redirect);
          EXPECT_EQ(redirected.location, toggled);
          EXPECT_EQ(redirected.status, 301);
        } else {
          EXPECT_EQ(redirected.kind, khz::route_match_kind::not_found);
        }
        continue;
      }
      EXPECT_EQ(target(tsr.match("GET", path)), target(got));
      ASSERT_TRUE(got.found()) << "expected " << want->pattern;
      EXPECT_EQ(got.full_path, want->pattern);
      ASSERT_EQ(got.params.size(), want->params.size());
      for (std::size_t i = 0; i < want->params.size(); ++i) {
        EXPECT_EQ(got.params[i].key, want->params[i].first);
        EXPECT_EQ(got.params[i].value, want->params[i].second);
      }
    }
  }
}

}  // namespace

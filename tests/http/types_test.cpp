// method, status, headers, request-target splitting, percent-decoding, query strings.
#include <khz/http/headers.hpp>
#include <khz/http/method.hpp>
#include <khz/http/request.hpp>
#include <khz/http/response.hpp>
#include <khz/http/status.hpp>
#include <khz/http/uri.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace khz {
namespace {

TEST(method, names_round_trip_and_are_case_sensitive) {
  for (method m : {method::get, method::head, method::post, method::put, method::delete_, method::connect,
                   method::options, method::trace, method::patch}) {
    EXPECT_EQ(method_from_string(to_string(m)), m) << to_string(m);
  }
  EXPECT_EQ(method_from_string("get"), method::other);
  EXPECT_EQ(method_from_string("PROPFIND"), method::other);
  EXPECT_EQ(to_string(method::other), "");
  static_assert(method_from_string("DELETE") == method::delete_);
}

TEST(method, tokens_safety_idempotence) {
  EXPECT_TRUE(is_method_token("M-SEARCH"));
  EXPECT_TRUE(is_method_token("x!#$%&'*+.^_`|~"));
  EXPECT_FALSE(is_method_token(""));
  EXPECT_FALSE(is_method_token("GET "));
  EXPECT_FALSE(is_method_token("G(T"));
  EXPECT_TRUE(is_safe(method::head));
  EXPECT_FALSE(is_safe(method::post));
  EXPECT_TRUE(is_idempotent(method::put));
  EXPECT_FALSE(is_idempotent(method::patch));
}

TEST(status, reasons_and_precomputed_lines) {
  EXPECT_EQ(reason_phrase(status::ok), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(299), "");
  EXPECT_EQ(detail::status_line_11(200), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(detail::status_line_11(431), "HTTP/1.1 431 Request Header Fields Too Large\r\n");
  EXPECT_EQ(detail::status_line_11(299), "");
  static_assert(reason_phrase(status::not_implemented) == "Not Implemented");
  EXPECT_TRUE(status_forbids_body(100));
  EXPECT_TRUE(status_forbids_body(204));
  EXPECT_TRUE(status_forbids_body(304));
  EXPECT_FALSE(status_forbids_body(200));
  EXPECT_FALSE(is_valid_status(99));
  EXPECT_FALSE(is_valid_status(600));
  EXPECT_TRUE(is_valid_status(599));
}

TEST(headers, ordered_duplicates_case_insensitive) {
  headers h;
  h.add("Content-Type", "text/plain");
  h.add("X-A", "1");
  h.add_view("x-a", "2");
  h.add("Set-Cookie", "a=b");
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[1].name, "X-A");
  EXPECT_EQ(h[2].value, "2");
  EXPECT_EQ(h.get("X-a"), "1");
  EXPECT_EQ(h.count("X-A"), 2u);
  EXPECT_EQ(h.get("content-TYPE"), "text/plain");
  EXPECT_EQ(h.find(known_field::content_type)->value, "text/plain");
  EXPECT_EQ(h.find(known_field::host), nullptr);
  EXPECT_FALSE(h.contains("Host"));
  std::vector<std::string> values;
  h.for_each("x-A", [&](std::string_view v) { values.emplace_back(v); });
  EXPECT_EQ(values, (std::vector<std::string>{"1", "2"}));
}

TEST(headers, known_fields_are_classified) {
  EXPECT_EQ(classify_field("HOST"), known_field::host);
  EXPECT_EQ(classify_field("content-length"), known_field::content_length);
  EXPECT_EQ(classify_field("Transfer-Encoding"), known_field::transfer_encoding);
  EXPECT_EQ(classify_field("Connection"), known_field::connection);
  EXPECT_EQ(classify_field("expect"), known_field::expect);
  EXPECT_EQ(classify_field("Upgrade"), known_field::upgrade);
  EXPECT_EQ(classify_field("Content-Type"), known_field::content_type);
  EXPECT_EQ(classify_field("Content-Typo"), known_field::other);
  EXPECT_EQ(classify_field("Hostx"), known_field::other);
}

TEST(headers, erase_set_and_index_rebuild) {
  headers h;
  h.add("Host", "a");
  h.add("X", "1");
  h.add("Connection", "close");
  h.add("x", "2");
  EXPECT_EQ(h.erase("X"), 2u);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.find(known_field::connection)->value, "close");
  h.set("host", "b");
  EXPECT_EQ(h.count("Host"), 1u);
  EXPECT_EQ(h.get(known_field::host), "b");
  EXPECT_EQ(h.erase("nothing"), 0u);
}

TEST(headers, spill_past_inline_capacity_and_clear_keeps_working) {
  headers h;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < headers::inline_capacity * 3; ++i)
      h.add("X-" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26)));
    h.add("Host", "h");
    ASSERT_EQ(h.size(), headers::inline_capacity * 3 + 1);
    EXPECT_EQ(h.get("X-70"), std::string(100, static_cast<char>('a' + 70 % 26)));
    EXPECT_EQ(h.get(known_field::host), "h");
    EXPECT_EQ(h[0].value, std::string(100, 'a'));
    h.clear();
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.find(known_field::host), nullptr);
  }
}

TEST(headers, move_keeps_views_valid) {
  headers a;
  a.add("X-Copy", "copied value");
  headers b = std::move(a);
  EXPECT_EQ(b.get("x-copy"), "copied value");
  headers c;
  c = std::move(b);
  EXPECT_EQ(c.get("X-Copy"), "copied value");
}

TEST(headers, value_whitespace_is_trimmed) {
  headers h;
  h.add("X", " \t v v \t");
  EXPECT_EQ(h.get("X"), "v v");
}

// A message built afresh per call reuses the arena memory of the previous one (per-thread
// chunk cache): the copy lands where the last destroyed message's copy was. Large copies
// (over the standard chunk) are not cached and still work.
TEST(headers, arena_chunks_are_recycled_per_thread) {
  const char* first = nullptr;
  {
    headers h;
    h.add("X-A", "value");
    first = h.get("X-A").data();
  }
  for (int i = 0; i < 3; ++i) {
    headers h;
    h.add("X-A", "value");
    EXPECT_EQ(h.get("X-A").data(), first) << "round " << i;
  }
  headers h;
  const std::string big(5000, 'b');
  h.add("X-Big", big);
  h.add("X-A", "value");
  EXPECT_EQ(h.get("X-Big"), big);
  EXPECT_EQ(h.get("X-A"), "value");
}

TEST(request_target, forms) {
  auto o = split_target("/a/b?c=d&e");
  EXPECT_EQ(o.form, target_form::origin);
  EXPECT_EQ(o.path, "/a/b");
  EXPECT_EQ(o.query, "c=d&e");

  auto a = split_target("http://user@example.com:8080/p?q", method::get);
  EXPECT_EQ(a.form, target_form::absolute);
  EXPECT_EQ(a.scheme, "http");
  EXPECT_EQ(a.authority, "user@example.com:8080");
  EXPECT_EQ(a.host, "example.com");
  EXPECT_EQ(a.port, "8080");
  EXPECT_EQ(a.path, "/p");
  EXPECT_EQ(a.query, "q");

  auto a2 = split_target("https://[::1]?x");
  EXPECT_EQ(a2.form, target_form::absolute);
  EXPECT_EQ(a2.host, "[::1]");
  EXPECT_EQ(a2.path, "");
  EXPECT_EQ(a2.query, "x");

  auto c = split_target("example.com:443", method::connect);
  EXPECT_EQ(c.form, target_form::authority);
  EXPECT_EQ(c.host, "example.com");
  EXPECT_EQ(c.port, "443");
  EXPECT_EQ(split_target("[2001:db8::1]:443", method::connect).host, "[2001:db8::1]");

  EXPECT_EQ(split_target("*", method::options).form, target_form::asterisk);
  EXPECT_EQ(split_target("*", method::get).form, target_form::invalid);
  EXPECT_EQ(split_target("/x", method::connect).form, target_form::invalid);
  EXPECT_EQ(split_target("example.com", method::connect).form, target_form::invalid);
  EXPECT_EQ(split_target("x/y").form, target_form::invalid);
  EXPECT_EQ(split_target("http:/x").form, target_form::invalid);
  EXPECT_EQ(split_target("1http://x/").form, target_form::invalid);
  EXPECT_EQ(split_target("").form, target_form::invalid);
}

TEST(request_target, authority_split) {
  std::string_view host, port;
  EXPECT_TRUE(split_authority("a.example:80", host, port));
  EXPECT_EQ(host, "a.example");
  EXPECT_EQ(port, "80");
  EXPECT_TRUE(split_authority("a.example", host, port));
  EXPECT_EQ(port, "");
  EXPECT_FALSE(split_authority("a:8o", host, port));
  EXPECT_FALSE(split_authority("[::1", host, port));
  EXPECT_FALSE(split_authority("[::1]x", host, port));
  EXPECT_FALSE(split_authority("a]:1", host, port));
}

TEST(percent_decode, decodes_and_rejects_malformed) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b%2Fc%e2%82%ac", out));
  EXPECT_EQ(out, "a b/c\xe2\x82\xac");
  out.clear();
  EXPECT_TRUE(percent_decode("a+b", out));
  EXPECT_EQ(out, "a+b");
  out.clear();
  EXPECT_TRUE(percent_decode("a+b%2B", out, true));
  EXPECT_EQ(out, "a b+");
  for (const char* badness : {"%", "%2", "%zz", "a%g0", "%0"}) {
    out.clear();
    EXPECT_FALSE(percent_decode(badness, out)) << badness;
  }
  EXPECT_FALSE(needs_decoding("plain/path"));
  EXPECT_TRUE(needs_decoding("a%20"));
  EXPECT_TRUE(needs_decoding("a+b", true));
}

TEST(query_params, pairs_in_order_with_repeated_keys) {
  query_params q("a=1&b=&c&a=2&&=v");
  std::vector<std::string> seen;
  for (const query_param& p : q)
    seen.push_back(std::string(p.key) + (p.has_value ? "=" : "") + std::string(p.value));
  EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b=", "c", "a=2", "=v"}));
  EXPECT_EQ(q.get("a"), "1");
  EXPECT_EQ(q.get("b"), "");
  EXPECT_EQ(q.get("c"), "");
  EXPECT_EQ(q.get("d"), std::nullopt);
  EXPECT_EQ(q.count("a"), 2u);
  EXPECT_EQ(query_params("").begin(), query_params("").end());
  EXPECT_EQ(query_params("&&").begin(), query_params("&&").end());
}

TEST(request, building_and_clear) {
  request r;
  r.set_method("PROPFIND");
  r.set_target("/dav/x?depth=1");
  EXPECT_EQ(r.method(), method::other);
  EXPECT_EQ(r.method_name(), "PROPFIND");
  EXPECT_EQ(r.path(), "/dav/x");
  EXPECT_EQ(r.query_parameters().get("depth"), "1");
  r.set_method(method::put);
  EXPECT_EQ(r.method_name(), "PUT");
  r.headers().add("Connection", "Keep-Alive, Upgrade");
  EXPECT_TRUE(r.connection_has("upgrade"));
  EXPECT_FALSE(r.connection_has("close"));
  r.clear();
  EXPECT_EQ(r.method(), method::get);
  EXPECT_EQ(r.target(), "");
  EXPECT_TRUE(r.headers().empty());
}

TEST(response, status_and_reason) {
  response r;
  EXPECT_EQ(r.status_code(), 200u);
  r.set_status(status::not_found);
  EXPECT_EQ(r.reason(), "Not Found");
  EXPECT_FALSE(r.has_custom_reason());
  r.set_reason("Nope");
  EXPECT_EQ(r.reason(), "Nope");
  EXPECT_TRUE(r.has_custom_reason());
  r.set_status(103);
  EXPECT_TRUE(r.is_interim());
  r.clear();
  EXPECT_EQ(r.status(), status::ok);
}

}  // namespace
}  // namespace khz

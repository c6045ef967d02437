// link_buffer: behaviour, zero-copy promises, lifetimes, and a randomized model test.
#include <gtest/gtest.h>
#include <khz/buffer/link_buffer.hpp>

#include "support/test_support.hpp"

#include <cstring>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

using khz::link_buffer;

std::string contents(const link_buffer& b) {
  std::string out(b.size(), '\0');
  EXPECT_EQ(b.copy_to({out.data(), out.size()}), b.size());
  return out;
}

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

// Appends a string so that its first `first_room` bytes sit alone in one block and the
// rest follows in other blocks (linked from a second buffer, so no block is shared).
// Writes `bytes` into one block reserved with `room` bytes (committed and flushed) and
// returns that block's span, to check that later views point into it.
std::span<char> write_one_block(link_buffer& b, std::string_view bytes, std::size_t room) {
  auto span = b.reserve(room);
  std::memcpy(span.data(), bytes.data(), bytes.size());
  b.commit(bytes.size());
  b.flush();
  return span;
}

void append_across_blocks(link_buffer& b, std::string_view s, std::size_t first_room) {
  std::size_t take = std::min(first_room, s.size());
  b.append(s.substr(0, take));
  link_buffer rest;
  rest.append(s.substr(take));
  b.append(std::move(rest));
  b.flush();
}

TEST(link_buffer, starts_empty_and_holds_no_block) {
  link_buffer b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.block_count(), 0u);
  EXPECT_TRUE(b.front().empty());
}

TEST(link_buffer, written_bytes_are_not_readable_until_flush) {
  link_buffer b;
  b.append("hello");
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.pending(), 5u);
  b.flush();
  EXPECT_EQ(b.size(), 5u);
  EXPECT_EQ(b.pending(), 0u);
  EXPECT_EQ(b.peek(5), "hello");
}

TEST(link_buffer, reserve_commit_flush) {
  link_buffer b;
  auto span = b.reserve(10);
  ASSERT_GE(span.size(), 10u);
  std::memcpy(span.data(), "0123456789", 10);
  b.commit(4);
  b.flush();
  EXPECT_EQ(contents(b), "0123");
  // The rest of the reserved block is still the writable tail: no new block.
  auto more = b.reserve(1);
  EXPECT_EQ(more.data(), span.data() + 4);
  EXPECT_EQ(b.block_count(), 1u);
}

TEST(link_buffer, next_consumes_and_release_frees_consumed_blocks) {
  link_buffer b;
  std::string s = pattern(3 * khz::block_pool::min_block_size);
  append_across_blocks(b, s, 100);
  std::size_t blocks = b.block_count();
  EXPECT_GE(blocks, 2u);
  EXPECT_EQ(b.next(200), s.substr(0, 200));
  b.release();
  EXPECT_EQ(b.block_count(), blocks - 1);  // the 100-byte first block, fully consumed, is gone
  EXPECT_EQ(contents(b), s.substr(200));
  b.skip(b.size());
  b.release();
  EXPECT_EQ(b.block_count(), 0u) << "a fully consumed buffer must give back every block";
}

TEST(link_buffer, peek_within_block_is_zero_copy) {
  link_buffer b;
  auto span = write_one_block(b, "abcdefgh", 64);
  EXPECT_EQ(b.peek(8).data(), span.data());
  EXPECT_EQ(b.front().data(), span.data());
  EXPECT_EQ(b.next(3).data(), span.data());
  EXPECT_EQ(b.next(5).data(), span.data() + 3);
}

TEST(link_buffer, peek_across_blocks_copies_once_and_stays_valid_until_release) {
  link_buffer b;
  std::string s = pattern(khz::block_pool::min_block_size + 100);
  append_across_blocks(b, s, 50);
  ASSERT_GE(b.block_count(), 2u);
  std::string_view a = b.next(80);  // crosses the 50-byte boundary
  std::string_view c = b.next(30);  // within the second block
  std::string_view d = b.peek(b.size());
  EXPECT_EQ(a, s.substr(0, 80));
  EXPECT_EQ(c, s.substr(80, 30));
  EXPECT_EQ(d, s.substr(110));
  // Every earlier view is still intact after later reads (contract: valid until release).
  std::string_view e = b.next(60);
  EXPECT_EQ(a, s.substr(0, 80));
  EXPECT_EQ(e, s.substr(110, 60));
}

TEST(link_buffer, slice_shares_blocks_without_copy) {
  link_buffer b;
  auto span = write_one_block(b, "header|body-bytes|rest", 256);
  b.skip(7);
  link_buffer body = b.slice(10);
  EXPECT_EQ(body.size(), 10u);
  EXPECT_EQ(body.peek(10), "body-bytes");
  EXPECT_EQ(body.peek(10).data(), span.data() + 7) << "slice must view the same memory";
  EXPECT_EQ(b.peek(b.size()), "|rest");
}

TEST(link_buffer, slice_to_replaces_the_target_and_shares_blocks) {
  link_buffer b;
  auto span = write_one_block(b, "header|body-bytes|rest", 256);
  link_buffer out;
  out.append("old contents");
  out.flush();
  b.slice_to(out, 7);  // within the read node: the fast path
  EXPECT_EQ(contents(out), "header|");
  EXPECT_EQ(out.peek(7).data(), span.data()) << "slice_to must view the same memory";
  EXPECT_EQ(out.block_count(), 1u);
  b.slice_to(out, 10);
  EXPECT_EQ(contents(out), "body-bytes");
  EXPECT_EQ(out.peek(10).data(), span.data() + 7);
  EXPECT_EQ(contents(b), "|rest");
  b.slice_to(out, 5);  // the whole rest: the source is empty, its block stays shared
  EXPECT_TRUE(b.empty());
  b.release();
  b.clear();
  EXPECT_EQ(contents(out), "|rest");
  b.slice_to(out, 0);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.block_count(), 0u);
}

TEST(link_buffer, slice_to_across_blocks_matches_slice) {
  std::string s = pattern(3 * khz::block_pool::min_block_size, 5);
  link_buffer source;
  append_across_blocks(source, s, 1000);
  source.skip(10);
  link_buffer out;
  out.append("x");
  source.slice_to(out, s.size() - 20);  // crosses blocks: the general path
  source.release();
  EXPECT_EQ(contents(out), s.substr(10, s.size() - 20));
  EXPECT_EQ(contents(source), s.substr(s.size() - 10));
  source.clear();
  EXPECT_EQ(contents(out), s.substr(10, s.size() - 20)) << "the slice holds its own references";
}

TEST(link_buffer, slice_outlives_its_source) {
  link_buffer body;
  std::string s = pattern(3 * khz::block_pool::min_block_size, 3);
  {
    link_buffer source;
    append_across_blocks(source, s, 1000);
    source.skip(10);
    body = source.slice(s.size() - 20);
    source.release();
    source.clear();
  }  // source destroyed: the slice holds its own references (ASan would flag a dangling view)
  EXPECT_EQ(contents(body), s.substr(10, s.size() - 20));
  EXPECT_EQ(body.next(body.size()), s.substr(10, s.size() - 20));
}

TEST(link_buffer, slice_released_on_another_thread) {
  link_buffer source;
  std::string s = pattern(20000, 5);
  source.append(s);
  source.flush();
  link_buffer part = source.slice(15000);
  source.clear();
  std::string seen;
  std::thread t([&] {
    seen = contents(part);
    part.clear();  // last reference dropped on this thread: goes to this thread's pool
  });
  t.join();
  EXPECT_EQ(seen, s.substr(0, 15000));
}

TEST(link_buffer, writer_keeps_writing_after_slice_without_disturbing_it) {
  link_buffer b;
  b.append("first");
  b.flush();
  link_buffer first = b.slice(5);
  b.append("second");  // same tail block, after the sliced bytes
  b.flush();
  EXPECT_EQ(first.peek(5), "first");
  EXPECT_EQ(b.peek(6), "second");
}

TEST(link_buffer, append_buffer_links_blocks_without_copy) {
  link_buffer a;
  link_buffer b;
  a.append("aaa");
  a.flush();
  auto span = b.reserve(16);
  std::memcpy(span.data(), "bbbb", 4);
  b.commit(4);  // pending bytes move too
  a.append(std::move(b));
  EXPECT_EQ(b.size() + b.pending(), 0u);
  EXPECT_EQ(b.block_count(), 0u);
  a.flush();
  EXPECT_EQ(contents(a), "aaabbbb");
  a.skip(3);
  EXPECT_EQ(a.peek(4).data(), span.data()) << "appended blocks are linked, not copied";
  // Writing after the append goes after the linked bytes.
  a.append("c");
  a.flush();
  EXPECT_EQ(contents(a), "bbbbc");
}

TEST(link_buffer, append_consumed_source_moves_only_unread_bytes) {
  link_buffer a;
  link_buffer b;
  b.append("xxxxyyyy");
  b.flush();
  b.skip(4);
  a.append(std::move(b));
  a.flush();
  EXPECT_EQ(contents(a), "yyyy");
}

TEST(link_buffer, append_external_is_zero_copy_and_keeps_memory_alive) {
  auto owner = std::make_shared<std::string>(pattern(100000, 9));
  std::weak_ptr<std::string> watch = owner;
  const char* where = owner->data();
  link_buffer b;
  b.append("prefix");
  b.append_external({owner->data(), owner->size()}, owner);
  owner.reset();
  EXPECT_FALSE(watch.expired()) << "the buffer holds the keep-alive handle";
  b.flush();
  b.skip(6);
  EXPECT_EQ(b.peek(10).data(), where);
  link_buffer part = b.slice(50000);
  b.clear();
  EXPECT_FALSE(watch.expired()) << "the slice still views the external memory";
  EXPECT_EQ(part.peek(5).data(), where);
  part.clear();
  EXPECT_TRUE(watch.expired()) << "keep-alive dropped with the last view";
}

TEST(link_buffer, append_block_adopts_a_filled_block) {
  khz::detail::block* blk = khz::block_pool::local().allocate(4096);
  std::memcpy(blk->data, "kernel-filled", 13);
  link_buffer b;
  b.append_block(blk, 13);
  b.flush();
  EXPECT_EQ(b.peek(13), "kernel-filled");
  EXPECT_EQ(b.peek(13).data(), blk->data);
  b.append("+tail");  // the adopted block's free space is the writable tail
  b.flush();
  EXPECT_EQ(b.block_count(), 1u);
  EXPECT_EQ(contents(b), "kernel-filled+tail");
}

TEST(link_buffer, find_char_and_delimiter_across_blocks) {
  link_buffer b;
  std::string s = pattern(5000, 2);
  s.replace(48, 4, "\r\n\r\n");  // straddles the 50-byte first block
  s[4500] = '#';
  append_across_blocks(b, s, 50);
  EXPECT_EQ(b.find("\r\n\r\n"), 48u);
  EXPECT_EQ(b.find('\r'), 48u);
  EXPECT_EQ(b.find('#'), 4500u);
  EXPECT_EQ(b.find("\r\n\r\n", 49), link_buffer::npos);
  EXPECT_EQ(b.find("zz#"), s.find("zz#"));
  EXPECT_EQ(b.find(""), 0u);
  b.skip(40);
  EXPECT_EQ(b.find("\r\n\r\n"), 8u) << "offsets are relative to the read position";
}

TEST(link_buffer, find_does_not_see_unflushed_bytes) {
  link_buffer b;
  b.append("abc");
  b.flush();
  b.append("XYZ");
  EXPECT_EQ(b.find('X'), link_buffer::npos);
  EXPECT_EQ(b.find("cX"), link_buffer::npos);
}

TEST(link_buffer, readable_iovecs_cover_all_blocks_in_order) {
  link_buffer b;
  std::string s = pattern(3 * khz::block_pool::min_block_size, 4);
  append_across_blocks(b, s, 10);
  b.skip(3);
  iovec iov[8];
  std::size_t n = b.readable_iovecs(iov);
  std::string joined;
  for (std::size_t i = 0; i < n; ++i) joined.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(joined, s.substr(3));
  EXPECT_EQ(b.readable_iovecs(std::span<iovec>(iov, 1)), 1u);
  std::size_t limited = b.readable_iovecs(iov, 5);
  ASSERT_EQ(limited, 1u);
  EXPECT_EQ(iov[0].iov_len, 5u);
}

TEST(link_buffer, read_string_copies_and_consumes) {
  link_buffer b;
  b.append("0123456789");
  b.flush();
  EXPECT_EQ(b.read_string(4), "0123");
  EXPECT_EQ(b.size(), 6u);
}

TEST(link_buffer, move_transfers_everything) {
  link_buffer a;
  a.append("moved");
  a.flush();
  std::string_view v = a.peek(5);
  link_buffer b(std::move(a));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.peek(5).data(), v.data());
  link_buffer c;
  c.append("old");
  c = std::move(b);
  EXPECT_EQ(contents(c), "moved");
}

TEST(link_buffer, large_reserve_gets_an_unpooled_block) {
  link_buffer b;
  auto span = b.reserve(3 << 20);
  EXPECT_GE(span.size(), std::size_t{3} << 20);
  b.commit(3 << 20);
  b.flush();
  EXPECT_EQ(b.size(), std::size_t{3} << 20);
}

TEST(block_pool, reuses_blocks_and_respects_its_cap) {
  auto& pool = khz::block_pool::local();
  pool.trim();
  auto before = pool.stats();
  khz::detail::block* a = pool.allocate(5000);  // 8 KiB class
  EXPECT_EQ(a->capacity, 8192u);
  khz::detail::block_release(a);
  EXPECT_EQ(pool.stats().cached_blocks, 1u);
  khz::detail::block* again = pool.allocate(7000);
  EXPECT_EQ(again, a) << "a cached block of the same class is reused";
  EXPECT_EQ(pool.stats().hits, before.hits + 1);
  khz::detail::block_release(again);

  std::size_t cap = pool.max_cached_bytes();
  pool.set_max_cached_bytes(4096);
  EXPECT_EQ(pool.stats().cached_bytes, 0u) << "lowering the cap trims at once";
  khz::detail::block* big = pool.allocate(64 << 10);
  khz::detail::block_release(big);
  EXPECT_EQ(pool.stats().cached_bytes, 0u) << "a block over the cap is freed, not kept";
  pool.set_max_cached_bytes(cap);
  EXPECT_EQ(pool.stats().outstanding, before.outstanding);
}

TEST(block_pool, idle_buffer_returns_blocks_to_the_pool) {
  auto& pool = khz::block_pool::local();
  auto before = pool.stats().outstanding;
  {
    link_buffer b;
    b.append(pattern(10000));
    b.flush();
    EXPECT_GT(pool.stats().outstanding, before);
    b.skip(b.size());
    b.release();
    EXPECT_EQ(pool.stats().outstanding, before);
  }
}

// The model test: random sequences of every operation, checked against a std::string.
TEST(link_buffer, randomized_model) {
  const std::uint64_t seed = khz::test::test_seed();
  SCOPED_TRACE("KHZ_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };

  for (int round = 0; round < 2000; ++round) {
    link_buffer b;
    std::string readable;  // model of readable bytes
    std::string pending;   // model of written-not-flushed bytes
    std::vector<std::pair<link_buffer, std::string>> slices;
    std::vector<std::pair<std::string_view, std::string>> views;  // valid until release
    for (int step = 0; step < 60; ++step) {
      switch (pick(11)) {
        case 0: {  // append copy
          std::string s = khz::test::random_bytes(rng, pick(pick(3) == 0 ? 9000 : 300));
          b.append(s);
          pending += s;
          break;
        }
        case 1: {  // reserve + partial commit
          std::size_t want = pick(5000);
          auto span = b.reserve(want);
          ASSERT_GE(span.size(), want);
          std::size_t n = pick(span.size() + 1);
          std::string s = khz::test::random_bytes(rng, n);
          std::memcpy(span.data(), s.data(), n);
          b.commit(n);
          pending += s;
          break;
        }
        case 2:
          b.flush();
          readable += pending;
          pending.clear();
          break;
        case 3: {  // next
          std::size_t n = pick(readable.size() + 1);
          std::string_view v = b.next(n);
          ASSERT_EQ(v, readable.substr(0, n));
          views.emplace_back(v, readable.substr(0, n));
          readable.erase(0, n);
          break;
        }
        case 4: {  // peek
          std::size_t n = pick(readable.size() + 1);
          std::string_view v = b.peek(n);
          ASSERT_EQ(v, readable.substr(0, n));
          views.emplace_back(v, readable.substr(0, n));
          break;
        }
        case 5: {  // skip
          std::size_t n = pick(readable.size() + 1);
          b.skip(n);
          readable.erase(0, n);
          break;
        }
        case 6:  // release: views die here, so check them first
          for (auto& [v, expect] : views) ASSERT_EQ(v, expect) << "a view changed before release()";
          views.clear();
          b.release();
          break;
        case 7: {  // slice
          std::size_t n = pick(readable.size() + 1);
          slices.emplace_back(b.slice(n), readable.substr(0, n));
          readable.erase(0, n);
          break;
        }
        case 8: {  // append another buffer
          link_buffer other;
          std::string s = khz::test::random_bytes(rng, pick(6000));
          other.append(s);
          if (pick(2)) other.flush();
          b.append(std::move(other));
          pending += s;
          break;
        }
        case 9: {  // find
          if (readable.size() >= 2) {
            std::size_t at = pick(readable.size() - 1);
            std::string needle = readable.substr(at, 1 + pick(std::min<std::size_t>(4, readable.size() - at)));
            std::size_t from = pick(at + 1);
            ASSERT_EQ(b.find(needle, from), readable.find(needle, from));
          }
          break;
        }
        case 10: {  // external
          auto owner = std::make_shared<std::string>(khz::test::random_bytes(rng, pick(2000)));
          b.append_external({owner->data(), owner->size()}, owner);
          pending += *owner;
          break;
        }
      }
      ASSERT_EQ(b.size(), readable.size());
      ASSERT_EQ(b.pending(), pending.size());
      ASSERT_EQ(contents(b), readable);
    }
    for (auto& [v, expect] : views) ASSERT_EQ(v, expect);
    for (auto& [slice, expect] : slices) ASSERT_EQ(contents(slice), expect) << "slice changed";
    b.flush();
    readable += pending;
    ASSERT_EQ(contents(b), readable);
    b.skip(b.size());
    b.release();
    ASSERT_EQ(b.block_count(), 0u);
  }
}

}  // namespace

// The allocation contract: a found lookup with up to 8 parameters does not touch the heap, nor
// does a 404 or a miss that probes for a trailing-slash redirect. Under ASan allocations are seen
// through the sanitizer's malloc hook; otherwise through a replaced global operator new.

#include "route_test_util.hpp"

#include <khz/base/config.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#if KHZ_ASAN
// From the sanitizer runtime (g++ does not ship <sanitizer/allocator_interface.h>).
extern "C" int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, std::size_t), void (*free_hook)(const volatile void*));
#endif

namespace {

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void note_allocation() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}

#if KHZ_ASAN
void malloc_hook(const volatile void*, std::size_t) { note_allocation(); }
void free_hook(const volatile void*) {}
const int hooks_installed = __sanitizer_install_malloc_and_free_hooks(&malloc_hook, &free_hook);
#endif

// Allocations made while `f` runs.
template <class F>
long allocations_during(F&& f) {
  allocations.store(0);
  counting.store(true);
  f();
  counting.store(false);
  return allocations.load();
}

using namespace route_test;

TEST(route_alloc, lookups_do_not_allocate) {
#if KHZ_ASAN
  ASSERT_NE(hooks_installed, 0) << "the ASan malloc hook could not be installed";
#endif
  // The counter works: a real allocation is seen.
  EXPECT_GE(allocations_during([] { delete new std::string(100, 'x'); }), 1);

  router r(khz::router_options{.handle_method_not_allowed = true});
  r.use(h("mw"));
  r.get("/user/repos", h("static"));
  r.get("/repos/:owner/:repo/issues/:number", h("issue"));
  r.get("/:a/:b/:c/:d/:e/:f/:g/:h", h("eight"));
  r.get("/src/*filepath", h("files"));
  r.get("/dir/", h("dir"));
  r.post("/only-post", h("post"));

  route_test::match m;
  auto expect_none = [&](std::string_view method, std::string_view path,
                         khz::route_match_kind kind) {
    const long n = allocations_during([&] { r.match(method, path, "", m); });
    EXPECT_EQ(n, 0) << method << " " << path;
    EXPECT_EQ(m.kind, kind) << method << " " << path;
  };
  expect_none("GET", "/user/repos", khz::route_match_kind::found);
  expect_none("GET", "/repos/julienschmidt/httprouter/issues/42", khz::route_match_kind::found);
  expect_none("GET", "/1/2/3/4/5/6/7/8", khz::route_match_kind::found);
  EXPECT_EQ(m.params.size(), 8u);
  expect_none("GET", "/src/a/b/c.txt", khz::route_match_kind::found);
  expect_none("GET", "/nothing/here/at/all/really/x/y/z/w", khz::route_match_kind::not_found);
  // Decoded values fit the inline buffer.
  expect_none("GET", "/repos/a%20b/c/issues/1", khz::route_match_kind::found);
  EXPECT_EQ(m.params.get("owner"), "a b");

  // The returning form too (the result is constructed in place).
  const long n = allocations_during([&] {
    const auto found = r.match("GET", "/repos/o/r/issues/1");
    EXPECT_TRUE(found.found());
  });
  EXPECT_EQ(n, 0);
  // A redirect owns its Location (an allocation is expected and allowed there).
  EXPECT_GE(allocations_during([&] { r.match("GET", "/dir", "with=a-long-query-string-to-pass-sso", m); }), 1);
  EXPECT_EQ(m.kind, khz::route_match_kind::redirect);
}

}  // namespace

#if !KHZ_ASAN
// Counting replacements of the global allocation functions (only without ASan, which provides
// its own). The array, aligned and nothrow forms all go through these two in libstdc++.
// Out of line: inlined into callers, g++ pairs malloc/free against new/delete and warns.
KHZ_NOINLINE void* operator new(std::size_t size) {
  note_allocation();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
KHZ_NOINLINE void operator delete(void* p) noexcept { std::free(p); }
KHZ_NOINLINE void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

#pragma once
// Internals of the router, compiled once in src/route/: the radix tree per method and the lookup
// policy (redirects, 405), both independent of the handler type. basic_router<Handler> maps the
// route index a lookup returns to its handler chain.

#include <khz/base/config.hpp>
#include <khz/route/route_match.hpp>
#include <khz/route/route_params.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

KHZ_BEGIN_NAMESPACE
namespace detail {

// What the core remembers of each route, for lookups (pattern) and error messages / routes().
struct route_record {
  std::string method;
  std::string path;
  std::string name;
  std::size_t handler_count = 0;
};

struct route_node;

// A radix tree of one method's patterns. Each node is a static run of bytes whose children are:
// static children (distinct first bytes), at most one `:param` child and at most one `*catch-all`
// child. Lookup tries static, then param, then catch-all, backtracking on failure.
class route_tree {
 public:
  explicit route_tree(std::string method);
  route_tree(route_tree&&) noexcept;
  route_tree& operator=(route_tree&&) noexcept;
  ~route_tree();

  const std::string& method() const noexcept { return method_; }

  // Adds a validated pattern with route index `id`. `records` describes existing routes, for
  // messages. Throws std::invalid_argument on a wildcard conflict or a duplicate; the tree is then
  // unchanged in behaviour (it may have split a node, which matches the same paths).
  void insert(std::string_view pattern, std::int32_t id, const std::deque<route_record>& records,
              std::string_view new_name);

  struct hit {
    std::int32_t id = -1;       // route index, -1 when nothing matched
    std::string_view pattern;   // the route's pattern, valid while the tree lives
    explicit operator bool() const noexcept { return id >= 0; }
  };
  // The route matching `path`. On success `params` holds the captured values (views into
  // `path`); on failure `params` is as it was on entry. Allocation-free up to
  // route_params::inline_capacity parameters.
  hit find(std::string_view path, route_params& params) const;

  // Case-insensitive (ASCII) lookup for the fixed-path redirect: on success `out` holds the path
  // spelled as registered (parameter values as in `path`).
  bool find_case_insensitive(std::string_view path, std::string& out) const;

 private:
  static const route_node* find_from(const route_node& n, std::string_view rest,
                                     route_params& params);

  std::string method_;
  std::unique_ptr<route_node> root_;
};

class router_core {
 public:
  explicit router_core(router_options options);

  const router_options& options() const noexcept { return options_; }

  // Validates and registers `path` for `method`; returns the route index. Throws
  // std::invalid_argument with a message naming the route(s) involved and what to change.
  std::int32_t add(std::string_view method, std::string_view path, std::string name,
                   std::size_t handler_count);
  void set_name(std::int32_t id, std::string name);

  // The whole lookup policy. `out` is reset first. Does not allocate for a found route with up
  // to route_params::inline_capacity parameters (except for long transformed paths: see
  // route_params.hpp). Thread-safe against other lookups; not against add().
  void lookup(std::string_view method, std::string_view path, std::string_view query,
              route_match_base& out) const;

  std::size_t size() const noexcept { return records_.size(); }
  std::vector<route_info> routes() const;

 private:
  const route_tree* tree_for(std::string_view method) const noexcept;
  bool try_redirect(const route_tree& tree, std::string_view method, std::string_view match_path,
                    bool decoded, std::string_view query, route_match_base& out) const;

  router_options options_;
  std::vector<route_tree> trees_;      // sorted: standard methods in Allow order, then by name
  std::deque<route_record> records_;   // deque: full_path views stay valid as routes are added
};

// Throws std::invalid_argument unless `path` is a well-formed pattern (see docs/route.md).
void validate_pattern(std::string_view method, std::string_view path);

}  // namespace detail
KHZ_END_NAMESPACE

#pragma once
// basic_router<Handler>: a Gin/Hertz-style radix-tree router, generic over the handler type.
//
//   khz::basic_router<my_handler> r;
//   r.use(logger);                                   // global middleware
//   r.get("/users/:id", show_user).name("show_user");
//   auto api = r.group("/api", auth);                // prefix + group middleware
//   api.post("/items", create_item);
//   auto m = r.match("GET", "/users/42", "");        // at request time
//   if (m.found()) run(*m.handlers, m.params.get("id"));
//
// Rules (docs/route.md has the full text): per-method radix tree; static > `:param` (one
// segment) > `*catchall` (rest of the path, last segment only) with backtracking; any method token.
// Registration errors throw std::invalid_argument at start-up with a message naming the routes.
//
// Chains: a route's chain is, in order, the global middleware added by use() so far, the
// middleware of each enclosing group from the outermost in (as added so far), then the route's own
// handlers. Middleware added later applies to routes registered later only (as in Gin and Hertz).
// The no_route / no_method chains are the exception: they always hold all global middleware.
//
// Threading and lifetimes: register everything first, then match() concurrently from any number of
// threads (it is const and touches no shared mutable state). A match refers into the router
// (handlers, full_path, parameter keys): keep the router alive and unmodified while matches are
// used. The router is neither copyable nor movable, because groups refer to it.
//
// Handler names (routes()): the name given with .name(...) at registration, else name_of(h) of the
// route's last handler, found by argument-dependent lookup (define
// `std::string_view name_of(const my_handler&)` next to your type), else "anonymous".

#include <khz/base/config.hpp>
#include <khz/route/detail/router_core.hpp>
#include <khz/route/route_match.hpp>
#include <khz/route/route_params.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE

// A lookup result: route_match_base plus the chain to run.
// handlers: found -> the route's chain; not_found -> the no_route chain (global middleware then
// no_route handlers; may hold only middleware, or nothing: the caller then answers 404 itself);
// method_not_allowed -> the no_method chain (same shape); redirect -> nullptr (the caller answers
// with status and Location). Valid while the router lives and is not modified.
template <class Handler>
struct basic_route_match : route_match_base {
  const std::vector<Handler>* handlers = nullptr;
};

namespace detail {
template <class H>
concept has_name_of = requires(const H& h) {
  { name_of(h) } -> std::convertible_to<std::string_view>;
};

template <class H>
std::string handler_name(const H& h) {
  if constexpr (has_name_of<H>) {
    return std::string(std::string_view(name_of(h)));
  } else {
    return "anonymous";
  }
}

// A group's prefix and middleware; a subgroup keeps its parent alive.
template <class Handler>
struct group_state {
  std::string prefix;  // full prefix, parent's included
  std::vector<Handler> middleware;
  std::shared_ptr<group_state> parent;
};

// "/v1" + "/users" -> "/v1/users"; "/v1/" + "users" -> "/v1/users"; "/v1" + "" -> "/v1".
// The router itself (empty prefix) passes paths through untouched, so that they are validated
// as written.
inline std::string join_paths(std::string_view prefix, std::string_view relative) {
  if (prefix.empty()) return std::string(relative);
  if (relative.empty()) return std::string(prefix);
  std::string out(prefix);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (relative.front() != '/') out.push_back('/');
  out += relative;
  return out;
}
}  // namespace detail

// What a registration returns, to name the route(s) it made (any() makes one per method).
// Valid while the router lives.
class route_ref {
 public:
  route_ref(detail::router_core* core, std::int32_t first, std::int32_t count) noexcept
      : core_(core), first_(first), count_(count) {}
  // Sets the handler name routes() shows.
  route_ref& name(std::string n) {
    for (std::int32_t i = 0; i < count_; ++i) core_->set_name(first_ + i, n);
    return *this;
  }
  std::int32_t first_index() const noexcept { return first_; }
  std::int32_t count() const noexcept { return count_; }

 private:
  detail::router_core* core_;
  std::int32_t first_;
  std::int32_t count_;
};

template <class Handler>
class basic_router;

// A prefix and middleware shared by the routes registered through it. Cheap to copy (copies
// share state). Valid while its router lives.
template <class Handler>
class basic_route_group {
 public:
  using handler_type = Handler;

  // Middleware for routes registered through this group (or its subgroups) from now on.
  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  basic_route_group& use(Hs&&... middleware) {
    (state_->middleware.emplace_back(std::forward<Hs>(middleware)), ...);
    return *this;
  }

  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  basic_route_group group(std::string_view prefix, Hs&&... middleware) {
    auto state = std::make_shared<state_type>();
    state->prefix = detail::join_paths(state_->prefix, prefix);
    state->parent = state_;
    basic_route_group child(router_, std::move(state));
    child.use(std::forward<Hs>(middleware)...);
    return child;
  }

  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  route_ref handle(std::string_view method, std::string_view path, Hs&&... handlers) {
    return router_->add_route(state_.get(), method, detail::join_paths(state_->prefix, path),
                              make_chain(std::forward<Hs>(handlers)...));
  }
  template <class... Hs> route_ref get(std::string_view p, Hs&&... h) { return handle("GET", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref head(std::string_view p, Hs&&... h) { return handle("HEAD", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref post(std::string_view p, Hs&&... h) { return handle("POST", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref put(std::string_view p, Hs&&... h) { return handle("PUT", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref patch(std::string_view p, Hs&&... h) { return handle("PATCH", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref del(std::string_view p, Hs&&... h) { return handle("DELETE", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref options(std::string_view p, Hs&&... h) { return handle("OPTIONS", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref connect(std::string_view p, Hs&&... h) { return handle("CONNECT", p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref trace(std::string_view p, Hs&&... h) { return handle("TRACE", p, std::forward<Hs>(h)...); }

  // The same chain for every method of standard_methods (one route each).
  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  route_ref any(std::string_view path, Hs&&... handlers) {
    const std::vector<Handler> chain = make_chain(std::forward<Hs>(handlers)...);
    const std::string full = detail::join_paths(state_->prefix, path);
    std::int32_t first = -1;
    for (std::string_view m : standard_methods) {
      const route_ref r = router_->add_route(state_.get(), m, full, chain);
      if (first < 0) first = r.first_index();
    }
    return route_ref(&router_->core_, first, static_cast<std::int32_t>(std::size(standard_methods)));
  }

  const std::string& prefix() const noexcept { return state_->prefix; }

 private:
  friend class basic_router<Handler>;
  using state_type = detail::group_state<Handler>;
  basic_route_group(basic_router<Handler>* router, std::shared_ptr<state_type> state)
      : router_(router), state_(std::move(state)) {}

  template <class... Hs>
  static std::vector<Handler> make_chain(Hs&&... handlers) {
    std::vector<Handler> chain;
    chain.reserve(sizeof...(Hs));
    (chain.emplace_back(std::forward<Hs>(handlers)), ...);
    return chain;
  }

  basic_router<Handler>* router_;
  std::shared_ptr<state_type> state_;
};

template <class Handler>
class basic_router {
  static_assert(std::copy_constructible<Handler>,
                "khz::basic_router<Handler>: Handler must be copy-constructible, because group and "
                "global middleware are copied into every route's chain");

 public:
  using handler_type = Handler;
  using chain_type = std::vector<Handler>;
  using match_type = basic_route_match<Handler>;
  using group_type = basic_route_group<Handler>;

  explicit basic_router(router_options options = {})
      : core_(options),
        root_(std::make_shared<detail::group_state<Handler>>()),
        root_group_(this, root_) {}
  basic_router(const basic_router&) = delete;
  basic_router& operator=(const basic_router&) = delete;

  const router_options& options() const noexcept { return core_.options(); }

  // Global middleware: first in the chain of every route registered after this call, and in the
  // no_route / no_method chains whenever they are registered.
  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  basic_router& use(Hs&&... middleware) {
    root_group_.use(std::forward<Hs>(middleware)...);
    rebuild_fallback_chains();
    return *this;
  }

  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  group_type group(std::string_view prefix, Hs&&... middleware) {
    return root_group_.group(prefix, std::forward<Hs>(middleware)...);
  }

  template <class... Hs> route_ref handle(std::string_view m, std::string_view p, Hs&&... h) { return root_group_.handle(m, p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref get(std::string_view p, Hs&&... h) { return root_group_.get(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref head(std::string_view p, Hs&&... h) { return root_group_.head(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref post(std::string_view p, Hs&&... h) { return root_group_.post(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref put(std::string_view p, Hs&&... h) { return root_group_.put(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref patch(std::string_view p, Hs&&... h) { return root_group_.patch(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref del(std::string_view p, Hs&&... h) { return root_group_.del(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref options(std::string_view p, Hs&&... h) { return root_group_.options(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref connect(std::string_view p, Hs&&... h) { return root_group_.connect(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref trace(std::string_view p, Hs&&... h) { return root_group_.trace(p, std::forward<Hs>(h)...); }
  template <class... Hs> route_ref any(std::string_view p, Hs&&... h) { return root_group_.any(p, std::forward<Hs>(h)...); }

  // Handlers run (after all global middleware) when no route matches / when only other methods
  // match and handle_method_not_allowed is on. Replaces earlier no_route / no_method handlers.
  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  void no_route(Hs&&... handlers) {
    no_route_handlers_.clear();
    (no_route_handlers_.emplace_back(std::forward<Hs>(handlers)), ...);
    rebuild_fallback_chains();
  }
  template <class... Hs>
    requires(std::convertible_to<Hs, Handler> && ...)
  void no_method(Hs&&... handlers) {
    no_method_handlers_.clear();
    (no_method_handlers_.emplace_back(std::forward<Hs>(handlers)), ...);
    rebuild_fallback_chains();
  }

  // Matches `method` (case-sensitive token) and `path`: the path component of the request target,
  // still percent-encoded as received, without '?' and the query. `query` (without '?') is only
  // copied into a redirect's Location. No allocation for a found route with up to 8 parameters.
  match_type match(std::string_view method, std::string_view path,
                   std::string_view query = {}) const {
    match_type m;
    match(method, path, query, m);
    return m;
  }
  // The same into caller storage (e.g. a pooled request context); `out` is overwritten.
  void match(std::string_view method, std::string_view path, std::string_view query,
             match_type& out) const {
    core_.lookup(method, path, query, out);
    switch (out.kind) {
      case route_match_kind::found:
        out.handlers = &chains_[static_cast<std::size_t>(out.route_index)];
        break;
      case route_match_kind::redirect:
        out.handlers = nullptr;
        break;
      case route_match_kind::not_found:
        out.handlers = &no_route_chain_;
        break;
      case route_match_kind::method_not_allowed:
        out.handlers = &no_method_chain_;
        break;
    }
  }

  // Every route in registration order (any() lists one line per method).
  std::vector<route_info> routes() const { return core_.routes(); }
  std::size_t size() const noexcept { return core_.size(); }

  // The chain registered for routes()[index]. Precondition: index < size().
  const chain_type& chain_at(std::size_t index) const { return chains_.at(index); }
  const chain_type& no_route_chain() const noexcept { return no_route_chain_; }
  const chain_type& no_method_chain() const noexcept { return no_method_chain_; }

 private:
  friend class basic_route_group<Handler>;

  route_ref add_route(const detail::group_state<Handler>* group, std::string_view method,
                      const std::string& path, chain_type handlers) {
    // Global (the root group) first, then outer groups to inner, then the route's handlers.
    std::vector<const detail::group_state<Handler>*> lineage;
    for (auto g = group; g != nullptr; g = g->parent.get()) lineage.push_back(g);
    chain_type chain;
    for (auto it = lineage.rbegin(); it != lineage.rend(); ++it) {
      chain.insert(chain.end(), (*it)->middleware.begin(), (*it)->middleware.end());
    }
    std::string name = handlers.empty() ? std::string() : detail::handler_name(handlers.back());
    chain.insert(chain.end(), handlers.begin(), handlers.end());
    const std::size_t count = handlers.empty() ? 0 : chain.size();
    const std::int32_t id = core_.add(method, path, std::move(name), count);
    chains_.push_back(std::move(chain));
    return route_ref(&core_, id, 1);
  }

  void rebuild_fallback_chains() {
    chain_type global = root_->middleware;
    no_route_chain_ = global;
    no_route_chain_.insert(no_route_chain_.end(), no_route_handlers_.begin(), no_route_handlers_.end());
    no_method_chain_ = std::move(global);
    no_method_chain_.insert(no_method_chain_.end(), no_method_handlers_.begin(),
                            no_method_handlers_.end());
  }

  detail::router_core core_;
  std::shared_ptr<detail::group_state<Handler>> root_;  // holds the global middleware
  group_type root_group_;
  std::deque<chain_type> chains_;  // by route index; deque keeps handed-out pointers valid
  chain_type no_route_handlers_;
  chain_type no_method_handlers_;
  chain_type no_route_chain_;
  chain_type no_method_chain_;
};

KHZ_END_NAMESPACE

#include <khz/core/testing.hpp>

KHZ_BEGIN_NAMESPACE
namespace testing {

performed_request perform_request(const router& r, test_request req) {
  performed_request out;
  context& ctx = out.ctx();
  khz::request& q = ctx.request();
  q.set_method(req.method_);
  q.set_target(req.target_);
  bool has_host = false;
  for (const auto& [name, value] : req.headers_) {
    q.headers().add(name, value);
    has_host = has_host || q.headers().find(known_field::host) != nullptr;
  }
  if (!has_host) q.headers().add("Host", "localhost");
  if (!req.body_.empty()) {
    if (q.headers().find(known_field::content_length) == nullptr) {
      q.headers().add("Content-Length", std::to_string(req.body_.size()));
    }
    q.set_body(req.body_);
  }
  ctx.begin_request(req.remote_ip_, req.client_ip_rules_);
  bool* finished = out.finished_.get();
  *finished = ctx.dispatch(r, [](void* flag) { *static_cast<bool*>(flag) = true; }, finished);
  return out;
}

}  // namespace testing
KHZ_END_NAMESPACE

#include <khz/client/client_error.hpp>

#include <string>

KHZ_BEGIN_NAMESPACE

namespace {

class client_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.client"; }
  std::string message(int value) const override {
    switch (static_cast<client_errc>(value)) {
      case client_errc::ok: return "success";
      case client_errc::connect_failed: return "could not connect";
      case client_errc::connection_reset: return "connection closed before the response ended";
      case client_errc::too_many_redirects: return "too many redirects";
      case client_errc::redirect_loop: return "redirect loop";
      case client_errc::body_not_replayable: return "the request body was a stream already sent: it cannot be sent again";
    }
    return "unknown client error";
  }
};

}  // namespace

const std::error_category& client_error_category() noexcept {
  static const client_category category;
  return category;
}

std::string_view failure_class(std::error_code ec) noexcept {
  if (!ec) return "ok";
  if (ec.category() == client_error_category()) {
    switch (static_cast<client_errc>(ec.value())) {
      case client_errc::connect_failed: return "connect";
      case client_errc::connection_reset: return "reset";
      case client_errc::too_many_redirects:
      case client_errc::redirect_loop: return "redirects";
      case client_errc::body_not_replayable: return "not_replayable";
      default: return "error";
    }
  }
  if (ec.category() == error_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::timeout: return "timeout";
      case errc::too_large: return "too_large";
      case errc::protocol_error: return "protocol";
      case errc::pool_full: return "pool_full";
      case errc::dns: return "dns";
      case errc::not_supported: return "not_supported";
      case errc::invalid_argument: return "invalid";
      case errc::cancelled: return "cancelled";
      case errc::closed: return "reset";
      default: return "error";
    }
  }
  return "error";
}

KHZ_END_NAMESPACE

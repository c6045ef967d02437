#include <khz/base/error.hpp>

KHZ_BEGIN_NAMESPACE

namespace {
class khz_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::ok: return "success";
      case errc::timeout: return "timed out";
      case errc::closed: return "connection closed";
      case errc::cancelled: return "operation cancelled";
      case errc::would_block: return "operation would block";
      case errc::too_large: return "size limit exceeded";
      case errc::protocol_error: return "protocol error";
      case errc::pool_full: return "connection pool is full";
      case errc::dns: return "name resolution failed";
      case errc::not_supported: return "not supported";
      case errc::invalid_argument: return "invalid argument";
      case errc::backpressure: return "peer is not keeping up";
      case errc::internal: return "internal error";
    }
    return "unknown khz error " + std::to_string(value);
  }
};
}  // namespace

const std::error_category& error_category() noexcept {
  static const khz_category category;
  return category;
}

KHZ_END_NAMESPACE

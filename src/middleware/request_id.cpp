#include <khz/middleware/request_id.hpp>

#include <random>
#include <string>

KHZ_BEGIN_NAMESPACE

namespace {

bool acceptable_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 200) return false;
  for (unsigned char ch : id) {
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

std::string random_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = rng();
  std::uint64_t b = rng();
  for (int i = 0; i < 16; ++i) {
    id[static_cast<std::size_t>(i)] = hex[(a >> (i * 4)) & 0xf];
    id[static_cast<std::size_t>(i + 16)] = hex[(b >> (i * 4)) & 0xf];
  }
  return id;
}

}  // namespace

handler<context> request_id(request_id_options options) {
  return handler<context>(
      [options = std::move(options)](context& c) {
        std::string_view incoming = c.header(options.header);
        std::string id = acceptable_id(incoming) ? std::string(incoming)
                         : options.generator     ? options.generator()
                                                 : random_id();
        c.set_header(options.header, id);
        c.set(request_id_key, std::move(id));
      },
      "khz::request_id");
}

std::string_view request_id_of(const context& ctx) noexcept {
  const std::string* id = ctx.get<std::string>(request_id_key);
  return id != nullptr ? std::string_view(*id) : std::string_view();
}

KHZ_END_NAMESPACE

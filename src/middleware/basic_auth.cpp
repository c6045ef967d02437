#include <khz/middleware/basic_auth.hpp>

#include <stdexcept>
#include <string>

KHZ_BEGIN_NAMESPACE

namespace detail {

bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char ch = in[i + static_cast<std::size_t>(k)];
      if (ch == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad != 0) return false;  // data after padding
        v[k] = value(ch);
        if (v[k] < 0) return false;
      }
    }
    unsigned triple = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                      (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(triple & 0xff));
  }
  return true;
}

}  // namespace detail

namespace {

// Constant time in the length of `expected`: how long the comparison takes does not tell
// an attacker how many leading bytes were right.
bool same_secret(std::string_view given, std::string_view expected) noexcept {
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

}  // namespace

handler<context> basic_auth(basic_accounts accounts, std::string realm) {
  for (const auto& [user, password] : accounts) {
    if (user.empty() || user.find(':') != std::string::npos) {
      throw std::invalid_argument(
          "khz: basic_auth account '" + user +
          "' is not usable: a user name must be non-empty and contain no ':'");
    }
  }
  std::string challenge = "Basic realm=\"" + realm + "\", charset=\"UTF-8\"";
  return handler<context>(
      [accounts = std::move(accounts), challenge = std::move(challenge)](context& c) {
        std::string_view auth = c.header("Authorization");
        std::string decoded;
        bool ok = false;
        if (auth.size() > 6 && (auth.substr(0, 6) == "Basic " || auth.substr(0, 6) == "basic ") &&
            detail::base64_decode(auth.substr(6), decoded)) {
          std::size_t colon = decoded.find(':');
          if (colon != std::string::npos) {
            std::string_view user(decoded.data(), colon);
            std::string_view password(decoded.data() + colon + 1, decoded.size() - colon - 1);
            for (const auto& [name, secret] : accounts) {
              // Check every account so that timing does not reveal which names exist.
              // Both comparisons always run (no short-circuit): unsigned, not bool, for '&'.
              bool match = (static_cast<unsigned>(same_secret(user, name)) &
                            static_cast<unsigned>(same_secret(password, secret))) != 0;
              if (match && !ok) {
                ok = true;
                c.set(auth_user_key, std::string(user));
              }
            }
          }
        }
        if (!ok) {
          c.set_header("WWW-Authenticate", challenge);
          c.abort_with_message(401, "401 Unauthorized");
        }
      },
      "khz::basic_auth");
}

KHZ_END_NAMESPACE

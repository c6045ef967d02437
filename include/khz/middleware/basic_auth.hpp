#pragma once
// basic_auth(): HTTP Basic authentication (RFC 7617). A request without valid credentials
// gets 401 with WWW-Authenticate and the chain stops; a valid one goes on with the user
// name stored under the context key "user" (a std::string). Passwords are compared in
// constant time.

#include <khz/base/config.hpp>
#include <khz/core/context.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

KHZ_BEGIN_NAMESPACE

inline constexpr std::string_view auth_user_key = "user";

using basic_accounts = std::vector<std::pair<std::string, std::string>>;  // user, password

// Throws std::invalid_argument when an account name is empty or contains ':'.
handler<context> basic_auth(basic_accounts accounts, std::string realm = "Authorization Required");

namespace detail {
// RFC 4648 base64 (standard alphabet, padding required); false on malformed input.
bool base64_decode(std::string_view in, std::string& out);
}  // namespace detail

KHZ_END_NAMESPACE

// The names under which shared state is kept in Redis, for what must not be readable there.
// A local cache key (policies::cacheKey) holds the caller's credential (its Authorization
// header, byte for byte), so in Redis an entry is named by an HMAC-SHA256 of the whole local
// key under a secret only the sidecars know: equal local keys give equal Redis keys on every
// replica, and neither the credential nor the arguments can be read or guessed from the name.
//
// Without a secret (`shared_state.key_secret_env` unset, or its variable unset or empty) there
// is no SharedKeys: cache sharing is off; the session and catalog parts do not need it.
// Pure computation (OpenSSL's libcrypto); never logs the secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

// Lower-case hex of HMAC-SHA256(key, message): 64 characters.
std::string hmacSha256Hex(std::string_view key, std::string_view message);

class SharedKeys {
public:
  // `secret` must not be empty (an empty HMAC key would let anyone compute the names).
  SharedKeys(std::string secret, std::string key_prefix);

  // The secret from the environment variable named `secret_env`; nullopt when the name is
  // empty, the variable is unset, or it is empty. `why_not` (if given) then says which, in
  // words fit for the one log line (the value is never part of it).
  static std::optional<SharedKeys> fromEnvironment(std::string_view secret_env,
                                                   std::string key_prefix,
                                                   std::string* why_not = nullptr);

  // <prefix>cache:<hex HMAC-SHA256(secret, local_key)>.
  std::string cacheKey(std::string_view local_key) const;

private:
  std::string secret_;
  std::string key_prefix_;
};

} // namespace bulwark

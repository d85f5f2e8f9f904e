// The names under which shared state is kept in Redis, for what must not be readable there.
// A local cache key (policies::cacheKey) holds the caller's credential (its Authorization
// header, byte for byte), so in Redis an entry is named by an HMAC-SHA256 of the whole local
// key under a secret only the sidecars know: equal local keys give equal Redis keys on every
// replica, and neither the credential nor the arguments can be read or guessed from the name.
//
// Without a secret (`shared_state.key_secret_env` unset, or its variable unset or empty) there
// is no SharedKeys: cache sharing is off; the catalog part does not need it.
//
// A session id is bearer-like too (whoever presents it is in the session), so a session's
// record is named by a digest of it (sessionDigestHex): HMAC-SHA256 under the secret when there
// is one, else plain SHA-256, which is enough for an id that is random and high-entropy (it
// cannot be found again by trying candidates). Every replica must then see the same secret, or
// none: a replica with another one names the records differently and finds none of them.
// Pure computation (OpenSSL's libcrypto); never logs the secret.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bulwark {

// Lower-case hex of HMAC-SHA256(key, message): 64 characters.
std::string hmacSha256Hex(std::string_view key, std::string_view message);
// Lower-case hex of SHA-256(message): 64 characters.
std::string sha256Hex(std::string_view message);
// The name a session id has in Redis: hmacSha256Hex(secret, id), or sha256Hex(id) when
// `secret` is empty.
std::string sessionDigestHex(std::string_view secret, std::string_view session_id);

// The secret in the environment variable named `secret_env`; nullopt when the name is empty,
// the variable is unset, or it is empty. `why_not` (if given) then says which, in words fit for
// a log line (the value is never part of it).
std::optional<std::string> sharedSecretFromEnvironment(std::string_view secret_env,
                                                       std::string* why_not = nullptr);

class SharedKeys {
public:
  // `secret` must not be empty (an empty HMAC key would let anyone compute the names).
  SharedKeys(std::string secret, std::string key_prefix);

  // With sharedSecretFromEnvironment(secret_env, why_not).
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

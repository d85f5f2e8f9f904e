#include "proxy/shared/shared_key.h"

#include <array>
#include <cstdlib>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <utility>

namespace bulwark {

namespace {

std::string toHex(const unsigned char* digest, unsigned int length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

} // namespace

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // One-shot HMAC: no context kept between calls. It fails only on allocation failure inside
  // OpenSSL; then the name is empty and the caller's Redis command simply finds nothing.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
           &length) == nullptr) {
    return {};
  }
  return toHex(digest.data(), length);
}

std::string sha256Hex(std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // One-shot digest; fails only on allocation failure inside OpenSSL (then: empty, as above).
  const int ok =
      EVP_Digest(message.data(), message.size(), digest.data(), &length, EVP_sha256(), nullptr);
  if (ok != 1) {
    return {};
  }
  return toHex(digest.data(), length);
}

std::string sessionDigestHex(std::string_view secret, std::string_view session_id) {
  return secret.empty() ? sha256Hex(session_id) : hmacSha256Hex(secret, session_id);
}

std::optional<std::string> sharedSecretFromEnvironment(std::string_view secret_env,
                                                       std::string* why_not) {
  const auto refuse = [&](std::string reason) -> std::optional<std::string> {
    if (why_not != nullptr) {
      *why_not = std::move(reason);
    }
    return std::nullopt;
  };
  if (secret_env.empty()) {
    return refuse("shared_state.key_secret_env is not set");
  }
  const std::string name(secret_env);
  const char* value = std::getenv(name.c_str()); // NOLINT(concurrency-mt-unsafe): at start
  if (value == nullptr) {
    return refuse("the environment variable " + name + " (shared_state.key_secret_env) is unset");
  }
  if (*value == '\0') {
    return refuse("the environment variable " + name + " (shared_state.key_secret_env) is empty");
  }
  return std::string(value);
}

SharedKeys::SharedKeys(std::string secret, std::string key_prefix)
    : secret_(std::move(secret)), key_prefix_(std::move(key_prefix)) {}

std::optional<SharedKeys> SharedKeys::fromEnvironment(std::string_view secret_env,
                                                      std::string key_prefix,
                                                      std::string* why_not) {
  std::optional<std::string> secret = sharedSecretFromEnvironment(secret_env, why_not);
  if (!secret) {
    return std::nullopt;
  }
  return SharedKeys(std::move(*secret), std::move(key_prefix));
}

std::string SharedKeys::cacheKey(std::string_view local_key) const {
  std::string key = key_prefix_;
  key += "cache:";
  key += hmacSha256Hex(secret_, local_key);
  return key;
}

} // namespace bulwark

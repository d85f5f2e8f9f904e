// Listen and upstream addresses resolved to socket addresses, and socket addresses printed.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>

#include "config/address.h"

namespace bulwark {

// Host and port are parsed in config/ (config::parseHostPort, config::parseUpstreamUrl); the
// proxy only resolves and prints them.
using config::HostPort;
using config::UpstreamUrl;

struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Resolves synchronously (getaddrinfo). Used at start-up only, before the loop runs.
std::optional<ResolvedAddress> resolveHostPort(const HostPort& where, std::string& error);

// "127.0.0.1:8080" or "[::1]:8080" of a bound or peer address.
std::string formatAddress(const sockaddr* address);

}  // namespace bulwark

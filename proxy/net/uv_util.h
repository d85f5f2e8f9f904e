// Small helpers for libuv return codes: every failure is reported with the call's name.
#pragma once

#include <uv.h>

#include <string>
#include <string_view>

namespace bulwark {

// "uv_tcp_bind: EADDRINUSE (address already in use)"
inline std::string uvError(std::string_view call, int status) {
  std::string text(call);
  text += ": ";
  text += uv_err_name(status);
  text += " (";
  text += uv_strerror(status);
  text += ")";
  return text;
}

}  // namespace bulwark

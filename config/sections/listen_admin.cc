// `listen` and `admin`: host:port, parsed once into config::HostPort.
#include "config/sections/sections.h"

namespace bulwark::config {

void readAddress(Reader& reader, const Field& f, HostPort& out) {
  auto text = reader.scalar(f, "host:port");
  if (!text) {
    return;
  }
  std::string unused;
  auto parsed = parseHostPort(*text, unused);
  if (!parsed) {
    reader.error(f.valueLoc(), f.path,
                 "invalid address " + quoted(*text) +
                     " (use host:port, e.g. 127.0.0.1:8080 or [::1]:8080)");
    return;
  }
  out = std::move(*parsed);
}

} // namespace bulwark::config

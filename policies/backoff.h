// Exponential backoff with full jitter, and Retry-After parsing. Pure: the random draw and the
// wall-clock time are passed in.
#pragma once

#include "policies/duration.h"

#include <chrono>
#include <optional>
#include <string_view>

namespace bulwark::policies {

struct BackoffParams {
  Duration base{std::chrono::seconds(1)}; // ceiling of the first retry's delay; >= 0
  double multiplier = 2.0;                // growth per retry; >= 1
  Duration max{std::chrono::seconds(10)}; // cap of the ceiling; >= base
};

// min(max, base * multiplier^(retry-1)) for retry >= 1 (retry 1 is the first retry, i.e. the
// second attempt). retry < 1 is treated as 1. Never overflows.
Duration backoffCeiling(const BackoffParams& params, int retry);

// Full jitter: a delay uniform in [0, backoffCeiling(params, retry)], inclusive, at millisecond
// resolution: floor(draw * (ceiling_ms + 1)). `draw` is a uniform random number in [0, 1)
// supplied by the caller (values outside are clamped), so tests pin it exactly; e.g. draw 0.5
// with a 1s ceiling gives 500ms.
Duration backoffDelay(const BackoffParams& params, int retry, double draw);

// Parses a Retry-After header value (RFC 9110 10.2.3): delay-seconds ("120") or an HTTP-date in
// any of the three formats a recipient must accept (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
// RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994"). A date is
// turned into a delay relative to `now`; a date in the past gives 0. Surrounding spaces are
// ignored. Returns nullopt for anything unparseable (the header should then be ignored).
std::optional<Duration> parseRetryAfter(std::string_view value,
                                        std::chrono::system_clock::time_point now);

} // namespace bulwark::policies

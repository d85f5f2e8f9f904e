#include "policies/backoff.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace bulwark::policies {

Duration backoffCeiling(const BackoffParams& p, int retry) {
  const double base_ms = static_cast<double>(std::max<Duration::rep>(p.base.count(), 0));
  const double max_ms = static_cast<double>(std::max<Duration::rep>(p.max.count(), 0));
  const double multiplier = std::max(p.multiplier, 1.0);
  const int exponent = std::max(retry, 1) - 1;
  // pow saturates to +inf rather than overflowing; the min() brings it back under max.
  const double ceiling = std::min(max_ms, base_ms * std::pow(multiplier, exponent));
  return Duration{static_cast<Duration::rep>(ceiling)};
}

Duration backoffDelay(const BackoffParams& p, int retry, double draw) {
  const Duration::rep ceiling = backoffCeiling(p, retry).count();
  if (!(draw > 0.0)) { // also catches NaN
    return Duration{0};
  }
  draw = std::min(draw, std::nextafter(1.0, 0.0));
  auto delay = static_cast<Duration::rep>(std::floor(draw * static_cast<double>(ceiling + 1)));
  return Duration{std::min(delay, ceiling)};
}

namespace {

// Retry-After values beyond this (about 31 years) are absurd; they saturate here.
constexpr Duration::rep kMaxRetryAfterSeconds = 1'000'000'000;

// A forward-only reader over the header value.
class Cursor {
public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  bool literal(std::string_view lit) {
    if (s_.substr(i_, lit.size()) != lit) {
      return false;
    }
    i_ += lit.size();
    return true;
  }
  // Exactly `n` digits (n > 0); with `space_padded`, a leading space may stand for a zero.
  std::optional<int> digits(std::size_t n, bool space_padded = false) {
    if (s_.size() - i_ < n) {
      return std::nullopt;
    }
    int value = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s_[i_ + k];
      if (c == ' ' && space_padded && k == 0) {
        continue;
      }
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      value = value * 10 + (c - '0');
    }
    i_ += n;
    return value;
  }
  // One of the names; returns its index.
  template <std::size_t N> std::optional<int> oneOf(const std::array<std::string_view, N>& names) {
    for (std::size_t k = 0; k < N; ++k) {
      if (literal(names[k])) {
        return static_cast<int>(k);
      }
    }
    return std::nullopt;
  }

private:
  std::string_view s_;
  std::size_t i_ = 0;
};

constexpr std::array<std::string_view, 7> kShortDays = {"Mon", "Tue", "Wed", "Thu",
                                                        "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Civil {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool timeOfDay(Cursor& c, Civil& t) {
  auto h = c.digits(2);
  if (!h || !c.literal(":")) {
    return false;
  }
  auto m = c.digits(2);
  if (!m || !c.literal(":")) {
    return false;
  }
  auto s = c.digits(2);
  if (!s || *h > 23 || *m > 59 || *s > 60) { // 60: leap second, tolerated
    return false;
  }
  t.hour = *h;
  t.minute = *m;
  t.second = *s;
  return true;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<Civil> imfFixdate(std::string_view v) {
  Cursor c(v);
  Civil t;
  if (!c.oneOf(kShortDays) || !c.literal(", ")) {
    return std::nullopt;
  }
  auto d = c.digits(2);
  if (!d || !c.literal(" ")) {
    return std::nullopt;
  }
  auto mon = c.oneOf(kMonths);
  if (!mon || !c.literal(" ")) {
    return std::nullopt;
  }
  auto y = c.digits(4);
  if (!y || !c.literal(" ") || !timeOfDay(c, t) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  t.year = *y;
  t.month = *mon + 1;
  t.day = *d;
  return t;
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; the two-digit year is resolved by RFC 9110's 50-year rule.
std::optional<Civil> rfc850(std::string_view v, int current_year) {
  Cursor c(v);
  Civil t;
  if (!c.oneOf(kLongDays) || !c.literal(", ")) {
    return std::nullopt;
  }
  auto d = c.digits(2);
  if (!d || !c.literal("-")) {
    return std::nullopt;
  }
  auto mon = c.oneOf(kMonths);
  if (!mon || !c.literal("-")) {
    return std::nullopt;
  }
  auto yy = c.digits(2);
  if (!yy || !c.literal(" ") || !timeOfDay(c, t) || !c.literal(" GMT") || !c.done()) {
    return std::nullopt;
  }
  int year = current_year - current_year % 100 + *yy;
  if (year > current_year + 50) {
    year -= 100;
  }
  t.year = year;
  t.month = *mon + 1;
  t.day = *d;
  return t;
}

// "Sun Nov  6 08:49:37 1994"
std::optional<Civil> asctimeDate(std::string_view v) {
  Cursor c(v);
  Civil t;
  if (!c.oneOf(kShortDays) || !c.literal(" ")) {
    return std::nullopt;
  }
  auto mon = c.oneOf(kMonths);
  if (!mon || !c.literal(" ")) {
    return std::nullopt;
  }
  auto d = c.digits(2, /*space_padded=*/true);
  if (!d || !c.literal(" ") || !timeOfDay(c, t) || !c.literal(" ")) {
    return std::nullopt;
  }
  auto y = c.digits(4);
  if (!y || !c.done()) {
    return std::nullopt;
  }
  t.year = *y;
  t.month = *mon + 1;
  t.day = *d;
  return t;
}

std::optional<std::chrono::sys_seconds> toSysSeconds(const Civil& t) {
  using namespace std::chrono;
  const year_month_day ymd{year{t.year}, month{static_cast<unsigned>(t.month)},
                           day{static_cast<unsigned>(t.day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return sys_days{ymd} + hours{t.hour} + minutes{t.minute} + seconds{t.second};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::optional<Duration> parseRetryAfter(std::string_view value,
                                        std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  value = trim(value);
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    // delay-seconds; saturate absurd values instead of overflowing.
    Duration::rep secs = 0;
    for (char ch : value) {
      secs = std::min<Duration::rep>(secs * 10 + (ch - '0'), kMaxRetryAfterSeconds);
    }
    return duration_cast<Duration>(seconds{secs});
  }
  const int current_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
  std::optional<Civil> civil = imfFixdate(value);
  if (!civil) {
    civil = rfc850(value, current_year);
  }
  if (!civil) {
    civil = asctimeDate(value);
  }
  if (!civil) {
    return std::nullopt;
  }
  auto at = toSysSeconds(*civil);
  if (!at) {
    return std::nullopt;
  }
  // Compared in whole seconds first: a date centuries away (year 3994) does not fit the system
  // clock's nanoseconds. Dates in the past give 0; far-future ones saturate like delay-seconds.
  const seconds ahead = *at - floor<seconds>(now);
  if (ahead <= seconds{0}) {
    return Duration{0};
  }
  if (ahead > seconds{kMaxRetryAfterSeconds}) {
    return duration_cast<Duration>(seconds{kMaxRetryAfterSeconds});
  }
  return ceil<Duration>(*at - now); // never earlier than asked
}

} // namespace bulwark::policies

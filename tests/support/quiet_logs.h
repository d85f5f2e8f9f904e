// Keeps a test's expected warnings (refused requests, children stopping) off stderr: raises the
// log level to errors for the guard's lifetime and restores the level it found, so that tests
// that read the log (tests/unit/proxy/admin/log_test.cc) see the default level whatever ran
// before them.
#pragma once

#include "proxy/admin/log.h"

namespace bulwark::testing {

class QuietLogs {
public:
  explicit QuietLogs(LogLevel level = LogLevel::kError) : previous_(currentLevel()) {
    setLogLevel(level);
  }
  ~QuietLogs() { setLogLevel(previous_); }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;

private:
  static LogLevel currentLevel() {
    for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn}) {
      if (logEnabled(level)) {
        return level;
      }
    }
    return LogLevel::kError;
  }

  LogLevel previous_;
};

}  // namespace bulwark::testing

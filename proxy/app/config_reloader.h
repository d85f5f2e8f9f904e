// Reloads the config file on SIGHUP and when the file changes. Kubernetes updates a mounted
// ConfigMap by swapping a `..data` symlink, which no inotify watch on the file itself sees, so
// the file is polled by stat (following links): a new inode, size or mtime triggers a reload.
// A file that fails to load is rejected, logged and counted; the old configuration stays.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/app/runtime_config.h"

namespace bulwark {

class Metrics;

// The settings that a reload cannot change (bound ports, the upstream, the stdio children's
// settings: all fixed when the process starts) and that differ between `running` and `next`,
// by their key path ("listen", "upstream.url", ...), in the order of config/README.md.
std::vector<std::string_view> restartOnlyChanges(const config::Config& running,
                                                 const config::Config& next);

class ConfigReloader {
public:
  // `apply` receives each successfully loaded configuration (after `adjust` has applied the
  // command-line overrides); it runs on the loop thread.
  using Adjust = std::function<void(config::Config&)>;
  using Apply = std::function<void(RuntimeConfigPtr)>;

  ConfigReloader(uv_loop_t* loop, std::string path, Metrics& metrics, Adjust adjust, Apply apply);
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Returns an empty string or what failed.
  std::string start(std::chrono::milliseconds poll_interval);
  void stop();
  void reload(std::string_view trigger);

private:
  static void onSignal(uv_signal_t* handle, int signal_number);
  static void onPoll(uv_fs_poll_t* handle, int status, const uv_stat_t* previous,
                     const uv_stat_t* current);

  uv_loop_t* loop_;
  std::string path_;
  Metrics& metrics_;
  Adjust adjust_;
  Apply apply_;
  uv_signal_t sighup_{};
  uv_fs_poll_t poll_{};
  bool started_ = false;
  // What the file was when it was last read (by either trigger), so that a change SIGHUP has
  // already loaded is not loaded, logged and counted a second time by the poll.
  struct FileIdentity {
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_sec = 0;
    std::int64_t mtime_nsec = 0;
    bool operator==(const FileIdentity&) const = default;
  };
  static FileIdentity identityOf(const uv_stat_t& stat);
  std::optional<FileIdentity> last_read_;
};

}  // namespace bulwark

// One stdio MCP server process: spawned with libuv in its own process group, JSON-RPC messages
// as newline-delimited lines on its stdin and stdout, its stderr copied into Bulwark's log as
// JSON lines (information only: a server's stderr is never an error signal).
//
// Ownership (house rules 5-7): the object owns its process, three pipes and a timer, and frees
// itself once the process has exited and every handle has closed. The owner never deletes it:
// it calls stop(), after which no observer callback fires.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/stdio/line_splitter.h"

namespace bulwark::stdio {

struct ChildCommand {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing) Bulwark's
  std::string cwd;                // empty: Bulwark's own
  std::size_t max_line_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds stop_grace{2000};  // stdin closed -> SIGTERM -> SIGKILL, each step
};

struct ChildExit {
  std::int64_t exit_status = 0;
  int term_signal = 0;
};

// Callbacks fire on the loop thread, never inline from spawn() or send().
class ChildObserver {
public:
  // One line of the child's stdout (a JSON-RPC message, unchecked). A line over the cap is
  // reported with `truncated` and should be treated as a broken child.
  virtual void onChildLine(std::string_view line, bool truncated) = 0;
  // The process exited. The object stops calling the observer after this.
  virtual void onChildExit(const ChildExit& exit) = 0;

protected:
  ~ChildObserver() = default;
};

class ChildProcess {
public:
  // Spawns `command`. Returns nullptr and sets `error` ("uv_spawn: ENOENT (...)") on failure.
  static ChildProcess* spawn(uv_loop_t* loop, const ChildCommand& command,
                             ChildObserver& observer, std::string& error);

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Writes `line` and a newline to the child's stdin (queued; never blocks).
  void send(std::string_view line);

  // Hands the child to another observer (a spare child adopted by a session).
  void setObserver(ChildObserver& observer) {
    if (!exited_ && stage_ == StopStage::kRunning) {
      observer_ = &observer;
    }
  }

  // The MCP stdio shutdown: close stdin, after `stop_grace` SIGTERM, after another SIGKILL (to
  // the whole process group, so `npx` and the server it started both go). The observer is
  // detached at once; the object frees itself when the process is gone.
  void stop();

  int pid() const { return pid_; }
  bool exited() const { return exited_; }
  std::chrono::steady_clock::time_point startedAt() const { return started_at_; }

private:
  enum class StopStage : std::uint8_t { kRunning, kStdinClosed, kTerminated, kKilled };
  struct Write;

  ChildProcess(const ChildCommand& command, ChildObserver& observer);
  ~ChildProcess() = default;

  static void onExit(uv_process_t* process, std::int64_t exit_status, int term_signal);
  static void onAlloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void onStdout(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onStderr(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWritten(uv_write_t* request, int status);
  static void onStopTimer(uv_timer_t* timer);
  static void onClosed(uv_handle_t* handle);

  void closeHandle(uv_handle_t* handle);
  void closeStdin();
  void signalGroup(int signal_number);
  void logStderr(std::string_view line, bool truncated);

  ChildObserver* observer_;
  std::chrono::milliseconds stop_grace_;
  uv_process_t process_{};
  uv_pipe_t stdin_{};
  uv_pipe_t stdout_{};
  uv_pipe_t stderr_{};
  uv_timer_t timer_{};
  int open_handles_ = 0;
  int pid_ = 0;
  bool exited_ = false;
  bool stdin_open_ = false;
  StopStage stage_ = StopStage::kRunning;
  LineSplitter stdout_lines_;
  LineSplitter stderr_lines_;
  std::chrono::steady_clock::time_point started_at_;
  char read_buffer_[64 * 1024];
};

}  // namespace bulwark::stdio

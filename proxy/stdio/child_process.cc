#include "proxy/stdio/child_process.h"

#include <signal.h>

#include <cstring>

#include "proxy/admin/log.h"
#include "proxy/net/uv_util.h"

extern char** environ;

namespace bulwark::stdio {
namespace {

// Longer stderr lines are logged truncated: the log is for people, not for data.
constexpr std::size_t kMaxStderrLineBytes = 8 * 1024;

// Bulwark's environment with `overrides` set (replacing variables of the same name).
std::vector<std::string> childEnvironment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    bool replaced = false;
    for (const auto& [key, value] : overrides) {
      replaced = replaced || key == name;
    }
    if (!replaced) {
      out.emplace_back(text);
    }
  }
  for (const auto& [key, value] : overrides) {
    out.push_back(key + "=" + value);
  }
  return out;
}

}  // namespace

struct ChildProcess::Write {
  uv_write_t request{};
  std::string bytes;
};

ChildProcess::ChildProcess(const ChildCommand& command, ChildObserver& observer)
    : observer_(&observer), stop_grace_(command.stop_grace),
      stdout_lines_(command.max_line_bytes), stderr_lines_(kMaxStderrLineBytes),
      started_at_(std::chrono::steady_clock::now()) {}

ChildProcess* ChildProcess::spawn(uv_loop_t* loop, const ChildCommand& command,
                                  ChildObserver& observer, std::string& error) {
  if (command.argv.empty()) {
    error = "empty command";
    return nullptr;
  }
  auto* self = new ChildProcess(command, observer);
  uv_handle_t* handles[] = {reinterpret_cast<uv_handle_t*>(&self->stdin_),
                            reinterpret_cast<uv_handle_t*>(&self->stdout_),
                            reinterpret_cast<uv_handle_t*>(&self->stderr_)};
  for (uv_handle_t* handle : handles) {
    // uv_pipe_init cannot fail for a valid loop; checked all the same (house rule 9).
    if (const int rc = uv_pipe_init(loop, reinterpret_cast<uv_pipe_t*>(handle), 0); rc != 0) {
      error = uvError("uv_pipe_init", rc);
      self->observer_ = nullptr;
      self->exited_ = true;
      self->stop();
      return nullptr;
    }
    handle->data = self;
    ++self->open_handles_;
  }
  if (const int rc = uv_timer_init(loop, &self->timer_); rc != 0) {
    error = uvError("uv_timer_init", rc);
    self->observer_ = nullptr;
    self->exited_ = true;
    self->stop();
    return nullptr;
  }
  self->timer_.data = self;
  ++self->open_handles_;

  std::vector<char*> argv;
  for (const std::string& arg : command.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_text = childEnvironment(command.env);
  std::vector<char*> env;
  for (std::string& entry : env_text) {
    env.push_back(entry.data());
  }
  env.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&self->stdin_);
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&self->stdout_);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&self->stderr_);

  uv_process_options_t options{};
  options.exit_cb = &ChildProcess::onExit;
  options.file = argv[0];
  options.args = argv.data();
  options.env = env.data();
  options.cwd = command.cwd.empty() ? nullptr : command.cwd.c_str();
  // Its own process group, so that stopping it also stops what it started (npx runs the
  // server as a grandchild).
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  self->process_.data = self;
  const int rc = uv_spawn(loop, &self->process_, &options);
  ++self->open_handles_;  // initialised by uv_spawn even when it fails; closed either way
  if (rc != 0) {
    error = uvError("uv_spawn", rc);
    self->observer_ = nullptr;
    self->exited_ = true;
    self->stop();
    return nullptr;
  }
  self->pid_ = self->process_.pid;
  self->stdin_open_ = true;
  int read_rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->stdout_),
                              &ChildProcess::onAlloc, &ChildProcess::onStdout);
  if (read_rc == 0) {
    read_rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->stderr_),
                            &ChildProcess::onAlloc, &ChildProcess::onStderr);
  }
  if (read_rc != 0) {
    error = uvError("uv_read_start", read_rc);
    self->observer_ = nullptr;
    self->stop();
    return nullptr;
  }
  logLine(LogLevel::kInfo, "stdio child started",
          {{"pid", self->pid_}, {"command", std::string_view(command.argv.front())}});
  return self;
}

void ChildProcess::send(std::string_view line) {
  if (!stdin_open_) {
    return;
  }
  auto* write = new Write;
  write->bytes.reserve(line.size() + 1);
  write->bytes.append(line);
  write->bytes.push_back('\n');
  write->request.data = this;
  uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
  const int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(&stdin_), &buf, 1,
                          &ChildProcess::onWritten);
  if (rc != 0) {
    delete write;
    logLine(LogLevel::kWarn, "stdio child stdin: " + uvError("uv_write", rc), {{"pid", pid_}});
  }
}

void ChildProcess::onWritten(uv_write_t* request, int status) {
  auto* write = reinterpret_cast<Write*>(request);
  // Cancelled writes complete before the pipe's close callback, so `self` is still alive.
  auto* self = static_cast<ChildProcess*>(request->data);
  delete write;
  if (status != 0 && status != UV_ECANCELED && self->observer_ != nullptr) {
    // EPIPE: the child closed stdin or died; its exit callback follows and says so.
    logLine(LogLevel::kDebug, "stdio child stdin: " + uvError("write", status),
            {{"pid", self->pid_}});
  }
}

void ChildProcess::onAlloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<ChildProcess*>(handle->data);
  *buf = uv_buf_init(self->read_buffer_, sizeof self->read_buffer_);
}

void ChildProcess::onStdout(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ChildProcess*>(stream->data);
  if (nread < 0) {
    uv_read_stop(stream);
    return;  // EOF or error: the exit callback reports the end
  }
  self->stdout_lines_.feed(std::string_view(buf->base, static_cast<std::size_t>(nread)),
                           [self](std::string_view line, bool truncated) {
                             if (self->observer_ != nullptr) {
                               self->observer_->onChildLine(line, truncated);
                             }
                           });
}

void ChildProcess::onStderr(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ChildProcess*>(stream->data);
  if (nread < 0) {
    if (!self->stderr_lines_.pending().empty()) {
      self->logStderr(self->stderr_lines_.pending(), false);
      self->stderr_lines_.clear();
    }
    uv_read_stop(stream);
    return;
  }
  self->stderr_lines_.feed(
      std::string_view(buf->base, static_cast<std::size_t>(nread)),
      [self](std::string_view line, bool truncated) { self->logStderr(line, truncated); });
}

void ChildProcess::logStderr(std::string_view line, bool truncated) {
  if (truncated) {
    logLine(LogLevel::kInfo, "stdio child stderr",
            {{"pid", pid_}, {"line", line}, {"truncated", true}});
  } else {
    logLine(LogLevel::kInfo, "stdio child stderr", {{"pid", pid_}, {"line", line}});
  }
}

void ChildProcess::onExit(uv_process_t* process, std::int64_t exit_status, int term_signal) {
  auto* self = static_cast<ChildProcess*>(process->data);
  self->exited_ = true;
  // Still-buffered stderr would otherwise be lost with the pipe.
  if (!self->stderr_lines_.pending().empty()) {
    self->logStderr(self->stderr_lines_.pending(), false);
    self->stderr_lines_.clear();
  }
  ChildObserver* observer = self->observer_;
  self->observer_ = nullptr;
  if (observer != nullptr) {
    observer->onChildExit(ChildExit{exit_status, term_signal});
  } else {
    // Killed by a signal or exited with a status: only the one that applies.
    logLine(LogLevel::kInfo, "stdio child stopped",
            {{"pid", self->pid_},
             term_signal != 0 ? LogField("signal", term_signal)
                              : LogField("exit_status", exit_status)});
  }
  self->stop();
}

void ChildProcess::stop() {
  observer_ = nullptr;
  if (exited_) {
    // Gone (or never started): close whatever is still open; the last close frees the object.
    stdin_open_ = false;
    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&stdin_),
                                reinterpret_cast<uv_handle_t*>(&stdout_),
                                reinterpret_cast<uv_handle_t*>(&stderr_),
                                reinterpret_cast<uv_handle_t*>(&timer_),
                                reinterpret_cast<uv_handle_t*>(&process_)}) {
      closeHandle(handle);
    }
    if (open_handles_ == 0) {
      delete this;  // nothing was ever initialised
    }
    return;
  }
  if (stage_ != StopStage::kRunning) {
    return;  // already on its way
  }
  // MCP stdio shutdown: closing stdin asks the server to exit; signals follow if it does not.
  closeStdin();
  stage_ = StopStage::kStdinClosed;
  const int rc = uv_timer_start(&timer_, &ChildProcess::onStopTimer,
                                static_cast<std::uint64_t>(stop_grace_.count()),
                                static_cast<std::uint64_t>(stop_grace_.count()));
  if (rc != 0) {
    logLine(LogLevel::kError, uvError("uv_timer_start", rc));
    signalGroup(SIGKILL);
  }
}

void ChildProcess::onStopTimer(uv_timer_t* timer) {
  auto* self = static_cast<ChildProcess*>(timer->data);
  if (self->stage_ == StopStage::kStdinClosed) {
    self->stage_ = StopStage::kTerminated;
    logLine(LogLevel::kInfo, "stdio child still running after stdin closed: SIGTERM",
            {{"pid", self->pid_}});
    self->signalGroup(SIGTERM);
  } else if (self->stage_ == StopStage::kTerminated) {
    self->stage_ = StopStage::kKilled;
    logLine(LogLevel::kWarn, "stdio child ignored SIGTERM: SIGKILL", {{"pid", self->pid_}});
    self->signalGroup(SIGKILL);
    uv_timer_stop(timer);
  }
}

void ChildProcess::signalGroup(int signal_number) {
  if (pid_ <= 0 || exited_) {
    return;
  }
  // The group first (npx and the server it runs); the leader alone if the group is gone.
  if (::kill(-pid_, signal_number) != 0) {
    ::kill(pid_, signal_number);
  }
}

void ChildProcess::closeStdin() {
  stdin_open_ = false;
  closeHandle(reinterpret_cast<uv_handle_t*>(&stdin_));
}

void ChildProcess::closeHandle(uv_handle_t* handle) {
  if (handle->data == this && !uv_is_closing(handle)) {
    uv_close(handle, &ChildProcess::onClosed);
  }
}

void ChildProcess::onClosed(uv_handle_t* handle) {
  auto* self = static_cast<ChildProcess*>(handle->data);
  if (--self->open_handles_ == 0) {
    delete self;
  }
}

}  // namespace bulwark::stdio

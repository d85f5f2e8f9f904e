// Child processes for integration tests: each child runs in its own process group so that
// stopping it (by PID) also stops anything it spawned. Output is captured for diagnostics.
import { spawn } from 'node:child_process';

const kMaxCapture = 8 * 1024 * 1024; // bytes kept per stream (the tail is dropped beyond this)
const live = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

// Last line of defence: whatever is still running when the test process exits is killed.
process.on('exit', () => {
  for (const p of live) killGroup(p.pid, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const p of live) killGroup(p.pid, 'SIGKILL');
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves with `promise`'s value, or rejects with `what` timed out after `ms`.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class ChildProcess {
  constructor(name, command, args, { env = {}, cwd } = {}) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.out = '';
    this.err = '';
    this.exitCode = undefined;
    this.signal = undefined;
    this.child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      detached: true, // own process group
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    live.add(this);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => {
      if (this.out.length < kMaxCapture) this.out += d;
    });
    this.child.stderr.on('data', (d) => {
      if (this.err.length < kMaxCapture) this.err += d;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve({ code, signal });
      });
      this.child.on('error', (e) => {
        this.err += `\nspawn error: ${e.message}\n`;
        this.exitCode = -1;
        resolve({ code: -1, signal: null });
      });
    });
    this.exited.then(() => {
      // The leader is gone; make sure nothing of its group lingers.
      killGroup(this.pid, 'SIGKILL');
      live.delete(this);
    });
  }

  get running() {
    return this.exitCode === undefined;
  }

  // Waits until `re` matches the captured stdout+stderr (bounded), returns the match.
  async waitForOutput(re, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
      const m = re.exec(this.out) ?? re.exec(this.err);
      if (m) return m;
      if (!this.running) break;
      await sleep(20);
    }
    const m = re.exec(this.out) ?? re.exec(this.err);
    if (m) return m;
    throw new Error(`${this.name}: output never matched ${re} within ${timeoutMs} ms\n${this.describe()}`);
  }

  // SIGTERM the group, then SIGKILL if it has not exited in `graceMs`. Returns the exit status.
  async stop(graceMs = 3000) {
    if (this.running) {
      killGroup(this.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
      await withTimeout(this.exited, graceMs + 5000, `${this.name} exit`).finally(() =>
        clearTimeout(timer),
      );
    }
    return { code: this.exitCode, signal: this.signal };
  }

  // A text block for failure messages: command line, exit status, tails of both streams.
  describe(tailChars = 6000) {
    const tail = (s) => (s.length > tailChars ? '...' + s.slice(-tailChars) : s);
    return [
      `--- ${this.name} (pid ${this.pid}): ${this.command} ${this.args.join(' ')}`,
      `--- exit: ${this.running ? 'still running' : `code=${this.exitCode} signal=${this.signal}`}`,
      `--- ${this.name} stderr:`,
      tail(this.err),
      `--- ${this.name} stdout:`,
      tail(this.out),
    ].join('\n');
  }
}

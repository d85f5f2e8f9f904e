// A raw HTTP/1.1 client on one TCP socket, for byte-exact tests: keep-alive reuse, pipelining,
// malformed requests, framing. Every wait is bounded.
import net from 'node:net';
import { kHost } from './net.mjs';

export class RawClient {
  static connect(port, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: kHost, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${kHost}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawClient(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.ended = false; // peer sent FIN or the socket closed
    this.error = null;
    this.wake = null;
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this._wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this._wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this._wake();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.ended = true;
      this._wake();
    });
  }

  _wake() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  // Writes bytes; resolves when flushed, or with the error (never rejects: a server that
  // answers early and closes may legitimately make a large write fail).
  write(data) {
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve(new Error('socket destroyed'));
        return;
      }
      this.socket.write(data, (err) => resolve(err ?? null));
    });
  }

  destroy() {
    this.socket.destroy();
  }

  // Calls `step()` until it returns something other than undefined, waiting for more bytes in
  // between. Throws when the deadline passes, or when the peer closed and `step` still wants more.
  async _until(step, deadline, what) {
    for (let i = 0; i < 1000000; i++) {
      const v = step();
      if (v !== undefined) return v;
      if (this.ended) {
        const how = this.error ? `connection failed first: ${this.error.code ?? this.error.message}`
                               : 'connection closed first';
        throw new Error(`${what}: ${how} (have ${this.buf.length} bytes: ` +
                        `${JSON.stringify(this.buf.toString('latin1').slice(0, 300))})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${what}: timed out (have ${this.buf.length} bytes: ` +
                        `${JSON.stringify(this.buf.toString('latin1').slice(0, 300))})`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    throw new Error(`${what}: too many reads`);
  }

  _take(n) {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  // Reads one complete response. `method` matters for HEAD (no body). 1xx responses are skipped.
  async readResponse({ method = 'GET', timeoutMs = 10000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10; i++) {
      const res = await this._readOne(method, deadline);
      if (res.status >= 200 || res.status === 101) return res;
    }
    throw new Error('too many 1xx responses');
  }

  async _readOne(method, deadline) {
    const head = await this._until(() => {
      const end = this.buf.indexOf('\r\n\r\n');
      return end < 0 ? undefined : this._take(end + 4).toString('latin1');
    }, deadline, 'response head');
    const lines = head.slice(0, -4).split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const res = {
      httpVersion: m[1],
      status: Number(m[2]),
      reason: m[3] ?? '',
      rawHeaders: [],
      headers: {},
      body: Buffer.alloc(0),
      chunked: false,
      trailers: [],
      head,
    };
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      res.rawHeaders.push([name, value]);
      (res.headers[name.toLowerCase()] ??= []).push(value);
    }
    res.header = (name) => res.headers[name.toLowerCase()]?.join(', ');
    const noBody = method === 'HEAD' || res.status < 200 || res.status === 204 || res.status === 304;
    if (noBody) return res;
    const te = res.header('transfer-encoding');
    const cl = res.header('content-length');
    if (te && /chunked\s*$/i.test(te)) {
      res.chunked = true;
      const parts = [];
      for (let i = 0; i < 1000000; i++) {
        const size = await this._until(() => {
          const eol = this.buf.indexOf('\r\n');
          if (eol < 0) return undefined;
          const line = this._take(eol + 2).toString('latin1').slice(0, -2);
          const n = parseInt(line.split(';')[0], 16);
          if (Number.isNaN(n)) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
          return n;
        }, deadline, 'chunk size');
        if (size === 0) break;
        parts.push(await this._until(() => {
          if (this.buf.length < size + 2) return undefined;
          const data = this._take(size);
          if (this._take(2).toString('latin1') !== '\r\n') throw new Error('chunk not followed by CRLF');
          return data;
        }, deadline, 'chunk data'));
      }
      // Trailers, up to the empty line.
      for (let i = 0; i < 1000; i++) {
        const line = await this._until(() => {
          const eol = this.buf.indexOf('\r\n');
          return eol < 0 ? undefined : this._take(eol + 2).toString('latin1').slice(0, -2);
        }, deadline, 'trailer');
        if (line === '') break;
        res.trailers.push(line);
      }
      res.body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      const n = Number(cl);
      if (!Number.isInteger(n) || n < 0) throw new Error(`bad Content-Length ${cl}`);
      res.body = await this._until(() => (this.buf.length >= n ? this._take(n) : undefined),
                                   deadline, `body of ${n} bytes`);
    } else {
      // Delimited by close.
      await this._until(() => (this.ended ? true : undefined), deadline, 'body until close')
        .catch((e) => {
          if (!this.ended) throw e;
        });
      res.body = this._take(this.buf.length);
    }
    res.text = res.body.toString('utf8');
    return res;
  }

  // True when the peer closes the connection within `timeoutMs` (any unread bytes are ignored).
  async waitClosed(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    try {
      await this._until(() => (this.ended ? true : undefined), deadline, 'close');
      return true;
    } catch {
      return this.ended;
    }
  }
}

// Formats a request. `headers` is a list of [name, value] pairs (kept in order, duplicates kept).
export function formatRequest(method, target, headers = [], body = '') {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), Buffer.from(body)]);
}

// Encodes `parts` as a chunked body (with the terminating zero chunk).
export function chunked(parts) {
  const out = [];
  for (const p of parts) {
    const b = Buffer.from(p);
    out.push(Buffer.from(`${b.length.toString(16)}\r\n`, 'latin1'), b, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(out);
}

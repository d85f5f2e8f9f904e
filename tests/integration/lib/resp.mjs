// A minimal Redis client over RESP2 for tests (no npm package needed): one TCP connection to
// 127.0.0.1, commands sent as arrays of bulk strings, replies parsed into JS values
// (simple string -> string, error -> Error object (not thrown), integer -> number,
// bulk -> Buffer or null, array -> array or null). Every command is bounded in time.
import net from 'node:net';
import { kHost } from './net.mjs';

// Parses one reply from `buf` at `pos`. Returns {value, next} or null when incomplete.
function parseReply(buf, pos) {
  if (pos >= buf.length) return null;
  const lineEnd = buf.indexOf('\r\n', pos);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+': return { value: line, next: after };
    case '-': return { value: new Error(line), next: after };
    case ':': return { value: Number(line), next: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next: after };
      if (buf.length < after + len + 2) return null;
      return { value: buf.subarray(after, after + len), next: after + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, next);
        if (item === null) return null;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`RESP: unexpected reply type ${JSON.stringify(type)}`);
  }
}

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

// Connects to Redis on 127.0.0.1:`port`; AUTH with `password` when given. Returns
// {command(...args) -> Promise<reply>, close()}.
export async function connectRedis(port, { password, timeoutMs = 3000 } = {}) {
  const socket = net.connect({ host: kHost, port });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis :${port}: no connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  let pending = Buffer.alloc(0);
  const waiting = []; // {resolve, reject, timer} in command order
  const failAll = (e) => {
    for (const w of waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  };
  socket.on('data', (d) => {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      const r = parseReply(pending, 0);
      if (r === null) break;
      pending = pending.subarray(r.next);
      const w = waiting.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(r.value);
      }
    }
  });
  socket.on('error', (e) => failAll(e));
  socket.on('close', () => failAll(new Error(`redis :${port}: connection closed`)));
  const command = (...args) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`)), timeoutMs);
    waiting.push({ resolve, reject, timer });
    socket.write(encode(args));
  });
  const client = { command, close: () => socket.destroy() };
  if (password !== undefined) {
    const ok = await command('AUTH', password);
    if (ok instanceof Error) {
      client.close();
      throw ok;
    }
  }
  return client;
}

// Every key of the database, with its type and value as text (string: the value; hash: every
// field and value; list/set/zset: every member; others: the type only). For scanning what
// Bulwark stored: [{key, type, text}].
export async function dumpAll(client) {
  const out = [];
  let cursor = '0';
  for (let round = 0; round < 100000; round++) {
    const [next, keys] = await client.command('SCAN', cursor, 'COUNT', 1000);
    for (const keyBuf of keys) {
      const key = keyBuf.toString('utf8');
      const type = await client.command('TYPE', key);
      let value;
      if (type === 'string') value = await client.command('GET', key);
      else if (type === 'hash') value = await client.command('HGETALL', key);
      else if (type === 'list') value = await client.command('LRANGE', key, 0, -1);
      else if (type === 'set') value = await client.command('SMEMBERS', key);
      else if (type === 'zset') value = await client.command('ZRANGE', key, 0, -1);
      const flat = (v) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.map(flat).join('\n')
                           : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
      out.push({ key, type, text: flat(value) });
    }
    cursor = next.toString('utf8');
    if (cursor === '0') break;
  }
  return out;
}

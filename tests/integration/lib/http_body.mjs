// The two HTTP helpers every fixture server needs: a JSON answer with its length, and a request
// body read whole (refused past a bound, so that a runaway client cannot grow a fixture forever).

export const kMaxFixtureBody = 16 * 1024 * 1024;

// Answers `value` (an object, or JSON text as is) with `status`; returns the text sent.
export function sendJson(res, status, value, headers = {}) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text),
                          ...headers });
  res.end(text);
  return text;
}

// The request body as UTF-8 text; rejects (and destroys the request) past `maxBytes`.
export function readBody(req, maxBytes = kMaxFixtureBody) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

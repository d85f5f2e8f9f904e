// A small reader for deploy/container/Dockerfile: stages, instructions (continuation lines
// joined, comments dropped), and the packages an `apt-get install` installs.
import fs from 'node:fs';
import path from 'node:path';
import { kDeploy } from './common.mjs';

export const kDockerfile = path.join(kDeploy, 'container', 'Dockerfile');

// [{name, from, instructions: [{op, args}]}]
export function stages(text = fs.readFileSync(kDockerfile, 'utf8')) {
  const logical = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue; // comment (or parser directive)
    if (current !== '' && /^\s*#/.test(line)) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  const out = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(l)}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2].trim());
      out.push({ from: f[1], name: f[2] ?? String(out.length), instructions: [] });
      continue;
    }
    if (!out.length) throw new Error(`Dockerfile: ${op} before FROM`);
    out[out.length - 1].instructions.push({ op, args: m[2].trim() });
  }
  return out;
}

// Packages named by every `apt-get install` in a RUN command (options and shell operators skipped).
export function aptInstalled(run) {
  const pkgs = [];
  for (const command of run.split(/&&|;|\|\|/)) {
    const words = command.trim().split(/\s+/);
    const i = words.indexOf('apt-get');
    if (i < 0 || words[i + 1] !== 'install') continue;
    for (const w of words.slice(i + 2)) if (!w.startsWith('-')) pkgs.push(w);
  }
  return pkgs;
}

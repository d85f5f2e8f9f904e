// Every shared library the built bulwark binary loads (ldd) comes from a Debian package that the
// runtime stage of deploy/container/Dockerfile installs, and that stage installs nothing else.
// The binary is $BULWARK_BIN (CTest's bulwark target: the same link line as the release build).
// A sanitizer build (BULWARK_SANITIZE=ON) also loads the sanitizer runtimes, which a release
// image does not carry: only those are left out, and only for such a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { bulwarkBinary, run } from './lib/common.mjs';
import { aptInstalled, stages } from './lib/dockerfile.mjs';

const kSanitizerPackages = /^(libasan\d+|libubsan\d+|liblsan\d+|libtsan\d+)$/;

// [{soname, path}] from ldd; the vDSO has no file.
function sharedLibraries(bin) {
  const libs = [];
  for (const line of run('ldd', [bin]).split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (/^linux-vdso\.so/.test(line)) continue;
    let m = /^(\S+)\s+=>\s+(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (m) {
      libs.push({ soname: m[1], path: m[2] });
      continue;
    }
    m = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line); // the dynamic loader
    if (m) {
      libs.push({ soname: m[1], path: m[1] });
      continue;
    }
    throw new Error(`ldd: cannot read ${JSON.stringify(line)} (a missing library?)`);
  }
  return libs;
}

// The package that owns a file. On merged-/usr Debian the same file is /lib/... and /usr/lib/...
// but dpkg knows it under one name only: try the path, its real path, and the other prefix.
function owningPackage(file) {
  const candidates = new Set([file, fs.realpathSync(file)]);
  for (const c of [...candidates]) {
    if (c.startsWith('/usr/')) candidates.add(c.slice(4));
    else candidates.add('/usr' + c);
  }
  for (const c of candidates) {
    try {
      const out = run('dpkg-query', ['-S', c]);
      const m = /^([^:,\s]+)(?::[\w-]+)?:\s/.exec(out);
      if (m) return m[1];
    } catch {
      // not under this name; try the next
    }
  }
  throw new Error(`no Debian package owns ${file} (tried ${[...candidates].join(', ')})`);
}

test('every library ldd reports is installed by the runtime stage, and nothing more', () => {
  const bin = bulwarkBinary();
  const sanitized = process.env.BULWARK_SANITIZE === 'ON';
  const libs = sharedLibraries(bin);
  assert.ok(libs.some((l) => l.soname.startsWith('libuv.so')), `links libuv: ${JSON.stringify(libs)}`);
  const needed = new Map(); // package -> sonames
  for (const lib of libs) {
    const pkg = owningPackage(lib.path);
    if (sanitized && kSanitizerPackages.test(pkg)) continue;
    needed.set(pkg, [...(needed.get(pkg) ?? []), lib.soname]);
  }
  const runtime = stages().at(-1);
  const installed = new Set(runtime.instructions.filter((i) => i.op === 'RUN').flatMap((i) => aptInstalled(i.args)));
  const missing = [...needed].filter(([pkg]) => !installed.has(pkg)).map(([pkg, so]) => `${pkg} (${so.join(', ')})`);
  assert.deepEqual(missing, [], 'libraries whose package the runtime stage does not install');
  const extra = [...installed].filter((pkg) => !needed.has(pkg));
  assert.deepEqual(extra, [], 'packages the runtime stage installs that the binary does not load');
});

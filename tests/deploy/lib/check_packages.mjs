// CTest fixture of tests/deploy: the npm packages of tests/deploy/package-lock.json are installed
// and match the lock file. Fails with the command that fixes it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
const fix = `run deploy/setup.sh --tests, or: (cd ${dir} && npm ci)`;
const problems = [];
for (const [where, entry] of Object.entries(lock.packages)) {
  if (!where.startsWith('node_modules/')) continue;
  const file = path.join(dir, where, 'package.json');
  if (!fs.existsSync(file)) {
    problems.push(`${where} is missing`);
    continue;
  }
  const version = JSON.parse(fs.readFileSync(file, 'utf8')).version;
  if (version !== entry.version) problems.push(`${where} is ${version}, the lock says ${entry.version}`);
}
if (problems.length) {
  console.error(`tests/deploy npm packages: ${problems.join('; ')}\n${fix}`);
  process.exit(1);
}
console.log(`tests/deploy: ${Object.keys(lock.packages).length - 1} npm packages as locked`);

// Shared helpers for the tests of deploy/: paths, commands, YAML, the metric catalogue.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kTestDir = path.resolve(here, '..');
export const kRepo = path.resolve(kTestDir, '..', '..');
export const kDeploy = path.join(kRepo, 'deploy');

// Runs a command, returns stdout; on failure throws with the command line, status and output.
export function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 << 20, ...opts });
  } catch (e) {
    const status = e.status ?? e.code;
    throw new Error(`${cmd} ${args.join(' ')} failed (${status})\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

export function readYaml(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8'));
}

export function parseYamlDocuments(text) {
  return YAML.parseAllDocuments(text).map((doc) => {
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS();
  }).filter((d) => d !== null);
}

export function loadCatalogue() {
  return JSON.parse(fs.readFileSync(path.join(kTestDir, 'metric_catalogue.json'), 'utf8')).metrics;
}

// The Prometheus rule files shipped in deploy/prometheus.
export const kRuleFiles = ['bulwark-recording.rules.yml', 'bulwark-alerts.rules.yml'].map((f) =>
  path.join(kDeploy, 'prometheus', f),
);

export function recordingRuleNames() {
  const names = new Set();
  for (const file of kRuleFiles) {
    for (const group of readYaml(file).groups) {
      for (const rule of group.rules) if (rule.record) names.add(rule.record);
    }
  }
  return names;
}

// The bulwark binary under test: $BULWARK_BIN (CTest sets it to the bulwark target). Missing is a
// failure, never a skip.
export function bulwarkBinary() {
  const bin = process.env.BULWARK_BIN;
  if (!bin) {
    throw new Error('BULWARK_BIN is not set: run through CTest (which builds the bulwark target), or ' +
      'set BULWARK_BIN=/path/to/bulwark');
  }
  if (!fs.existsSync(bin)) throw new Error(`BULWARK_BIN=${bin} does not exist: build the bulwark target first`);
  return bin;
}

// Rendering and reading the Kubernetes files of deploy/kubernetes.
import fs from 'node:fs';
import path from 'node:path';
import { kDeploy, kTestDir, parseYamlDocuments, run } from './common.mjs';
import { packageDir, unknownFields } from './strict_keys.mjs';

export const kKubernetesDir = path.join(kDeploy, 'kubernetes');

// Every folder under deploy/kubernetes with a kustomization.yaml.
export function kustomizations() {
  const out = [];
  const walk = (dir) => {
    if (fs.existsSync(path.join(dir, 'kustomization.yaml'))) out.push(dir);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(kKubernetesDir);
  return out.sort();
}

export function kustomizeVersion() {
  const info = JSON.parse(run('kubectl', ['version', '--client', '-o', 'json']));
  const m = /v?(\d+)\.(\d+)/.exec(info.kustomizeVersion ?? '');
  return m ? { major: Number(m[1]), minor: Number(m[2]), text: info.kustomizeVersion } : null;
}

export function render(dir) {
  return parseYamlDocuments(run('kubectl', ['kustomize', dir]));
}

// apiVersion/kind -> the kubernetes-models module that validates it.
const kModels = {
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Service': 'kubernetes-models/v1/Service',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
  'monitoring.coreos.com/v1/PodMonitor': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
};

// Validates one rendered object: kubernetes-models' schema validation (types, required fields,
// formats) and the unknown-field check. Returns a list of problems.
export async function validateObject(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const spec = kModels[key];
  if (!spec) return [`${key} ${obj.metadata?.name}: no schema known to this test (add it to kModels)`];
  const mod = await import(spec);
  const Model = mod[obj.kind];
  const problems = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${key} ${obj.metadata?.name}: ${e.message}`);
  }
  const parts = spec.split('/');
  const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const rest = parts.slice(spec.startsWith('@') ? 2 : 1).join('/');
  const dts = path.join(packageDir(pkg, kTestDir), rest + '.d.ts');
  problems.push(...unknownFields(obj, dts, `I${obj.kind}`, `${obj.kind} ${obj.metadata?.name}`));
  return problems;
}

// Command-line flags of a Bulwark container: {flags: Map(name -> value), command: [...after --]}.
export function parseBulwarkArgs(args) {
  const flags = new Map();
  let command = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      command = args.slice(i + 1);
      break;
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else flags.set(a.slice(2), args[++i]);
  }
  return { flags, command };
}

export function hostPort(value) {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value ?? '');
  if (!m) throw new Error(`not HOST:PORT: ${value}`);
  return { host: m[1], port: Number(m[2]) };
}

// Seconds of a Go-style duration as Bulwark writes them (250ms, 15s, 1m).
export function seconds(duration) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration ?? '');
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

// A container port reference (name or number) resolved against a container's ports.
export function resolvePort(container, ref) {
  if (typeof ref === 'number') return ref;
  if (/^\d+$/.test(String(ref))) return Number(ref);
  const p = (container.ports ?? []).find((x) => x.name === ref);
  return p ? p.containerPort : undefined;
}

export function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;
}

// A small parser for the Prometheus text exposition format (enough for Bulwark's /metrics).

function parseLabels(text) {
  const labels = {};
  let i = 0;
  for (let guard = 0; i < text.length && guard < 1000; guard++) {
    while (text[i] === ',' || text[i] === ' ') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad label set: {${text}}`);
    const key = text.slice(i, eq).trim();
    if (text[eq + 1] !== '"') throw new Error(`bad label value in {${text}}`);
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += text[j] === 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    labels[key] = value;
    i = j + 1;
  }
  return labels;
}

// Returns {samples: [{name, labels, value}], types: {family: type}}.
export function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types[m[1]] = m[2];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    samples.push({ name: m[1], labels: m[3] ? parseLabels(m[3]) : {}, value: Number(m[4]) });
  }
  return { samples, types };
}

// Sum of the samples named `name` whose labels include every pair in `match`.
export function sumSamples(metrics, name, match = {}) {
  let sum = 0;
  for (const s of metrics.samples ?? []) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

export function findSamples(metrics, name, match = {}) {
  return (metrics.samples ?? []).filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

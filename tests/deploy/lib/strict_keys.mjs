// Unknown-key check for Kubernetes objects. kubernetes-models validates types and required fields
// but lets unknown keys through (`readinesProbe:` would pass). Its .d.ts files list every field of
// every type, so this reads them (a small parser for the regular TypeScript they contain) and
// walks an object along its type, reporting each key the type does not declare.
import fs from 'node:fs';
import path from 'node:path';

const kPrimitives = new Set(['string', 'number', 'boolean', 'any', 'unknown', 'object', 'null', 'undefined']);

// --- Tokenizer and type parser ------------------------------------------------------------------

function tokenize(src) {
  const text = src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const tokens = [];
  const re = /\s+|("(?:[^"\\]|\\.)*")|('(?:[^'\\]|\\.)*')|([A-Za-z_$][\w$]*)|(-?\d+(?:\.\d+)?)|(=>|[{}()[\]<>;:?,|&=*.])/gy;
  let m;
  while (re.lastIndex < text.length) {
    const at = re.lastIndex;
    m = re.exec(text);
    if (!m) throw new Error(`d.ts tokenizer: unexpected character at ${at}: ${text.slice(at, at + 40)}`);
    if (m[1] !== undefined) tokens.push({ kind: 'str', value: JSON.parse(m[1]) });
    else if (m[2] !== undefined) tokens.push({ kind: 'str', value: m[2].slice(1, -1) });
    else if (m[3] !== undefined) tokens.push({ kind: 'id', value: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'num', value: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: 'punct', value: m[5] });
  }
  return tokens;
}

class Parser {
  constructor(tokens) {
    this.t = tokens;
    this.i = 0;
  }
  peek(k = 0) {
    return this.t[this.i + k];
  }
  is(value, k = 0) {
    const tok = this.peek(k);
    return tok !== undefined && tok.kind !== 'str' && tok.value === value;
  }
  next() {
    return this.t[this.i++];
  }
  expect(value) {
    const tok = this.next();
    if (!tok || tok.value !== value) {
      throw new Error(`d.ts parser: expected '${value}', got '${tok ? tok.value : 'end'}'`);
    }
  }
  // type := ['|'] member ('|' member)*
  type() {
    if (this.is('|')) this.next();
    const alternatives = [this.postfix()];
    while (this.is('|') || this.is('&')) {
      this.next();
      alternatives.push(this.postfix());
    }
    return alternatives.length === 1 ? alternatives[0] : { kind: 'union', of: alternatives };
  }
  postfix() {
    let t = this.primary();
    while (this.is('[') && this.is(']', 1)) {
      this.next();
      this.next();
      t = { kind: 'array', of: t };
    }
    return t;
  }
  primary() {
    const tok = this.next();
    if (!tok) throw new Error('d.ts parser: type expected at end');
    if (tok.kind === 'str' || tok.kind === 'num') return { kind: 'prim' };
    if (tok.value === '{') return this.objectBody();
    if (tok.value === '(') {
      const t = this.type();
      this.expect(')');
      return t;
    }
    if (tok.kind === 'id') {
      if (tok.value === 'Array' && this.is('<')) {
        this.next();
        const of = this.type();
        this.expect('>');
        return { kind: 'array', of };
      }
      if (kPrimitives.has(tok.value) || tok.value === 'true' || tok.value === 'false') return { kind: 'prim' };
      if (this.is('<')) throw new Error(`d.ts parser: unsupported generic type ${tok.value}<...>`);
      return { kind: 'ref', name: tok.value };
    }
    throw new Error(`d.ts parser: unexpected '${tok.value}' in a type`);
  }
  // After '{': members until '}'.
  objectBody() {
    const props = new Map();
    let index = null;
    while (!this.is('}')) {
      if (this.is('[')) {
        // [key: string]: T;
        this.next();
        this.next();
        this.expect(':');
        this.next();
        this.expect(']');
        this.expect(':');
        index = this.type();
      } else {
        const name = this.next();
        if (!name || (name.kind !== 'str' && name.kind !== 'id')) {
          throw new Error(`d.ts parser: property name expected, got '${name ? name.value : 'end'}'`);
        }
        if (this.is('?')) this.next();
        this.expect(':');
        props.set(name.value, this.type());
      }
      if (this.is(';') || this.is(',')) this.next();
    }
    this.expect('}');
    return { kind: 'object', props, index };
  }
}

// --- Module loading -------------------------------------------------------------------------------

const modules = new Map(); // absolute .d.ts path -> {imports, locals, aliases}

// The folder of package `pkg` as Node would find it from `fromDir` (the packages' `exports`
// maps hide their .d.ts files from require.resolve, so this walks node_modules folders itself).
export function packageDir(pkg, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', pkg);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`package ${pkg} not found from ${fromDir}`);
  }
}

function resolveModule(fromFile, spec) {
  if (spec.startsWith('.')) return path.resolve(path.dirname(fromFile), spec + '.d.ts');
  // A package path such as @kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.
  const parts = spec.split('/');
  const scoped = spec.startsWith('@');
  const pkg = parts.slice(0, scoped ? 2 : 1).join('/');
  const rest = parts.slice(scoped ? 2 : 1).join('/');
  return path.join(packageDir(pkg, path.dirname(fromFile)), rest + '.d.ts');
}

function loadModule(file) {
  if (modules.has(file)) return modules.get(file);
  const src = fs.readFileSync(file, 'utf8');
  const mod = { file, imports: new Map(), locals: new Map(), aliases: new Map() };
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const item of m[1].split(',').map((s) => s.trim()).filter(Boolean)) {
      const [orig, as] = item.split(/\s+as\s+/);
      mod.imports.set((as ?? orig).trim(), { spec: m[2], name: orig.trim() });
    }
  }
  for (const m of src.matchAll(/export\s*\{([^}]*)\}\s*;/g)) {
    for (const item of m[1].split(',').map((s) => s.trim()).filter(Boolean)) {
      const [orig, as] = item.split(/\s+as\s+/);
      if (as) mod.aliases.set(as.trim(), orig.trim());
    }
  }
  // Interfaces and type aliases: parse each declaration's text with the type parser.
  const tokens = tokenize(src);
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok.kind !== 'id') continue;
    if (tok.value === 'interface' && tokens[i + 1]?.kind === 'id') {
      // `interface X {` or `interface X extends TypeMeta {`: TypeMeta's two fields (apiVersion,
      // kind) are declared again in every such interface; any other base would need merging.
      let j = i + 2;
      if (tokens[j]?.value === 'extends') {
        for (j++; j < tokens.length && tokens[j].value !== '{'; j++) {
          if (tokens[j].kind === 'id' && tokens[j].value !== 'TypeMeta') {
            throw new Error(`d.ts: ${tokens[i + 1].value} extends ${tokens[j].value}: not supported`);
          }
        }
      }
      if (tokens[j]?.value !== '{') continue;
      const p = new Parser(tokens);
      p.i = j + 1;
      mod.locals.set(tokens[i + 1].value, p.objectBody());
      i = p.i - 1;
    } else if (tok.value === 'type' && tokens[i + 1]?.kind === 'id' && tokens[i + 2]?.value === '=') {
      const p = new Parser(tokens);
      p.i = i + 3;
      mod.locals.set(tokens[i + 1].value, p.type());
      i = p.i - 1;
    }
  }
  modules.set(file, mod);
  return mod;
}

// The type named `name` as seen from module `mod`.
function resolveName(mod, name, depth = 0) {
  if (depth > 20) throw new Error(`d.ts: alias loop resolving ${name} in ${mod.file}`);
  if (mod.locals.has(name)) return { mod, type: mod.locals.get(name) };
  if (mod.aliases.has(name)) return resolveName(mod, mod.aliases.get(name), depth + 1);
  const imp = mod.imports.get(name);
  if (imp) return resolveName(loadModule(resolveModule(mod.file, imp.spec)), imp.name, depth + 1);
  throw new Error(`d.ts: cannot resolve type ${name} in ${mod.file}`);
}

// --- Walking an object along its type ---------------------------------------------------------------

function check(value, type, mod, where, errors) {
  if (value === null || value === undefined) return;
  switch (type.kind) {
    case 'prim':
      return;
    case 'ref': {
      const r = resolveName(mod, type.name);
      check(value, r.type, r.mod, where, errors);
      return;
    }
    case 'array':
      if (Array.isArray(value)) value.forEach((v, i) => check(v, type.of, mod, `${where}[${i}]`, errors));
      return;
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value)) return; // type errors are kubernetes-models' job
      for (const [key, v] of Object.entries(value)) {
        if (type.props.has(key)) check(v, type.props.get(key), mod, `${where}.${key}`, errors);
        else if (type.index) check(v, type.index, mod, `${where}.${key}`, errors);
        else errors.push(`${where}.${key}: unknown field`);
      }
      return;
    case 'union': {
      // The first alternative that fits without complaint wins; else report the closest one.
      let best = null;
      for (const alt of type.of) {
        const errs = [];
        check(value, alt, mod, where, errs);
        if (errs.length === 0) return;
        if (!best || errs.length < best.length) best = errs;
      }
      errors.push(...best);
      return;
    }
    default:
      throw new Error(`d.ts: unknown type node ${type.kind}`);
  }
}

// Unknown fields of `object` against the interface `interfaceName` declared in `dtsFile`
// (an absolute path, e.g. require.resolve('kubernetes-models/apps/v1/Deployment.d.ts')).
// Returns a list of messages such as "Deployment.spec.template.spec.containers[0].readinesProbe:
// unknown field"; empty when every key is declared.
export function unknownFields(object, dtsFile, interfaceName, label) {
  const mod = loadModule(dtsFile);
  const r = resolveName(mod, interfaceName);
  const errors = [];
  check(object, r.type, r.mod, label, errors);
  return errors;
}

/**
 * Schema validation with Ajv, its errors turned into diagnostics at exact ranges: a missing key
 * at the object that lacks it (its name), an unknown key at that key, a wrong type or value at
 * the value. Alternatives (a number is an integer or a string) are reported once, as what was
 * expected, not as one complaint per alternative.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from './diagnostics';
import { idToPath, type ConfigDocument, type PathSegment } from './document';
import { precompiledQuickParts, precompiledValidator } from './precompiled';
import { quickValidatorOf, type QuickValidator } from './quick-validator';
import { compileQuickValidator, compileValidator } from './schema-validator';

let compiled: ValidateFunction | undefined;
let quick: QuickValidator | undefined;

function validator(): ValidateFunction {
  compiled ??= precompiledValidator() ?? compileValidator();
  return compiled;
}

function quickValidator(): QuickValidator {
  if (quick === undefined) {
    const parts = precompiledQuickParts();
    quick = parts ? quickValidatorOf(parts.root, parts.model, parts.iommuKeys) : compileQuickValidator();
  }
  return quick;
}

/**
 * Ajv knows no bigint: integers too large for a double still validate as integers. The value is
 * copied only where it holds a bigint (Ajv changes nothing it is given).
 */
function forAjv(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const y = forAjv(x);
      if (out === undefined && y !== x) out = v.slice(0, i);
      if (out !== undefined) out.push(y);
    }
    return out ?? v;
  }
  const o = v as Record<string, unknown>;
  // A key `__proto__` (a region or an IOMMU of that name) stays an own property in a copy, so
  // that the schema checks it as it checks any other key.
  if (Object.hasOwn(o, '__proto__')) return copyForAjv(o);
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    const x = o[keys[i]!];
    const y = forAjv(x);
    if (y === x) continue;
    // The first bigint under this object: copy it, the keys before as they are.
    const out: Record<string, unknown> = {};
    for (let j = 0; j < i; j++) out[keys[j]!] = o[keys[j]!];
    out[keys[i]!] = y;
    for (let j = i + 1; j < keys.length; j++) out[keys[j]!] = forAjv(o[keys[j]!]);
    return out;
  }
  return o;
}

function copyForAjv(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === '__proto__') Object.defineProperty(out, k, { value: forAjv(x), enumerable: true, writable: true, configurable: true });
    else out[k] = forAjv(x);
  }
  return out;
}

/** Whether a config value is valid, by the quick validator alone. */
export function quickValid(value: unknown): boolean {
  return quickValidator()(forAjv(value));
}

/** `validate` is the schema's validator (by default the bundle's precompiled ones, or the schema compiled now). */
export function validateSchema(cd: ConfigDocument, value: unknown, validate?: ValidateFunction): Diagnostic[] {
  const data = forAjv(value);
  // A valid config needs only the quick validator; the full one says what is wrong.
  if (validate === undefined && quickValidator()(data)) return [];
  validate ??= validator();
  if (validate(data)) return [];
  const errors = (validate.errors ?? []).slice();
  // Drop what an anyOf's alternatives said on their own: the anyOf's own error says it better.
  // (By prefix set, not by comparing every error with every anyOf: thousands of errors stay linear.)
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.schemaPath + '/'));
  const underAnyOf = (schemaPath: string) => {
    for (let i = schemaPath.indexOf('/'); i >= 0; i = schemaPath.indexOf('/', i + 1)) if (anyOfPaths.has(schemaPath.slice(0, i + 1))) return true;
    return false;
  };
  // A literal (`iommu-lens: 1`) fails both its const and its type: the const says it better.
  const consts = new Set(errors.filter((e) => e.keyword === 'const').map((e) => e.instancePath));
  const kept = errors.filter((e) => !underAnyOf(e.schemaPath) && !(e.keyword === 'type' && consts.has(e.instancePath)));
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const d = toDiagnostic(cd, e);
    if (!d) continue;
    const key = `${d.range.start.line}:${d.range.start.character}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

function where(path: readonly PathSegment[]): string {
  if (path.length === 0) return 'the config';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function toDiagnostic(cd: ConfigDocument, e: ErrorObject): Diagnostic | undefined {
  const path = idToPath(e.instancePath);
  const mk = (code: string, message: string, p: readonly PathSegment[], which: 'value' | 'key' = 'value'): Diagnostic => ({
    file: cd.file,
    range: cd.rangeOf(p, which),
    severity: 'error',
    code,
    message,
  });
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const d = mk('missing-key', `${where(path)} is missing the key "${String(params.missingProperty)}"`, path, 'key');
      if (path.length === 0 && params.missingProperty === 'iommu-lens') {
        const start = { line: 0, character: 0 };
        return { ...d, fixes: [{ title: 'Add "iommu-lens: 1"', range: { start, end: start }, newText: cd.file.endsWith('.json') ? '' : 'iommu-lens: 1\n' }].filter((f) => f.newText) };
      }
      return d;
    }
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const hint = closest(key, known);
      const list = known.length <= 12 ? ` (expected one of: ${known.join(', ')})` : '';
      const d = mk('unknown-key', `unknown key "${key}" in ${where(path)}${hint ? `; did you mean "${hint}"?` : list}`, [...path, key], 'key');
      return hint ? { ...d, fixes: [{ title: `Rename to "${hint}"`, range: d.range, newText: hint }] } : d;
    }
    case 'discriminator': {
      const tag = String(params.tag);
      const schema = e.parentSchema as { oneOf?: Array<{ properties?: Record<string, { const?: unknown }> }> } | undefined;
      const values = (schema?.oneOf ?? []).map((s) => String(s.properties?.[tag]?.const));
      if (params.error === 'tag' && (e.data as Record<string, unknown> | undefined)?.[tag] === undefined) {
        return mk('missing-key', `${where(path)} is missing the key "${tag}" (one of: ${values.join(', ')})`, path, 'key');
      }
      const got = (e.data as Record<string, unknown> | undefined)?.[tag];
      return mk('bad-value', `unknown ${tag} ${JSON.stringify(got)} (expected one of: ${values.join(', ')})`, [...path, tag]);
    }
    case 'anyOf': {
      const alts = (e.schema as Array<{ const?: unknown }> | undefined) ?? [];
      const title = (e.parentSchema as { title?: string } | undefined)?.title;
      if (alts.length && alts.every((a) => a.const !== undefined)) {
        return mk('bad-value', `${where(path)}: expected one of ${alts.map((a) => JSON.stringify(a.const)).join(', ')}, got ${describe(e.data)}`, path);
      }
      if (title === 'number') {
        return mk('wrong-type', `${where(path)}: expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got ${describe(e.data)}`, path);
      }
      return mk('wrong-type', `${where(path)}: ${describe(e.data)} is not ${title ? `a valid ${title}` : 'any of the accepted forms'}`, path);
    }
    case 'type':
      return mk('wrong-type', `${where(path)}: expected ${article(String(params.type))}, got ${describe(e.data)}`, path);
    case 'const':
      return mk('bad-value', `${where(path)}: expected ${JSON.stringify(params.allowedValue)}, got ${describe(e.data)}`, path);
    case 'enum':
      return mk('bad-value', `${where(path)}: expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, path);
    case 'minProperties':
    case 'maxProperties':
      if (path[0] === 'scenario') {
        return mk('bad-value', `${where(path)}: a step has exactly one kind (write-reg, read-reg, access, write-mem, read-mem, map, unmap, command or expect)`, path);
      }
      return mk('bad-value', `${where(path)}: ${e.message ?? 'wrong number of keys'}`, path);
    case 'minItems':
    case 'maxItems': {
      const sch = e.parentSchema as { minItems?: number; maxItems?: number } | undefined;
      const n = Array.isArray(e.data) ? e.data.length : 0;
      const bound = sch?.minItems === sch?.maxItems ? 'exactly' : e.keyword === 'minItems' ? 'at least' : 'at most';
      return mk('bad-value', `${where(path)}: expected ${bound} ${String(params.limit)} item${params.limit === 1 ? '' : 's'}, got ${n}`, path);
    }
    case 'uniqueItems': {
      const [first, second] = [Number(params.j), Number(params.i)];
      const item = Array.isArray(e.data) ? describe(e.data[second]) : 'an item';
      return mk('bad-value', `${where(path)}: ${item} is listed twice (items ${first} and ${second})`, [...path, second]);
    }
    case 'pattern':
      return mk('bad-value', `${where(path)}: ${describe(e.data)} is not in the expected form`, path);
    default:
      return mk('bad-value', `${where(path)}: ${e.message ?? e.keyword}`, path);
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return typeof v;
}

function article(t: string): string {
  const names: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', boolean: 'true or false', number: 'a number' };
  return names[t] ?? t;
}

/** Names longer than this are not typos of a known name, and get no suggestion. */
const MAX_SUGGEST_LENGTH = 64;

/**
 * Every known name near enough to a misspelt one to be a likely typo, nearest first. Bounded as
 * closest() is: no suggestion for a name longer than MAX_SUGGEST_LENGTH, at most
 * MAX_SUGGEST_CANDIDATES candidates and MAX_SUGGEST_WORK table cells, the distance computed in a band.
 */
export function plausible(word: string, candidates: readonly string[]): string[] {
  if (word.length > MAX_SUGGEST_LENGTH) return [];
  const limit = Math.max(1, Math.floor(word.length / 3));
  const w = word.toLowerCase();
  const found: Array<{ c: string; i: number; d: number }> = [];
  const n = Math.min(candidates.length, MAX_SUGGEST_CANDIDATES);
  let work = 0;
  for (let i = 0; i < n && work < MAX_SUGGEST_WORK; i++) {
    const c = candidates[i]!;
    if (Math.abs(c.length - w.length) > limit) continue;
    work += w.length * (2 * limit + 1);
    const d = editDistance(w, c.toLowerCase(), limit);
    if (d <= limit) found.push({ c, i, d });
  }
  return found.sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.c);
}

/**
 * The known key nearest to a misspelt one, if it is near enough to be a likely typo. Bounded: a
 * candidate whose length differs by more than the allowed distance is skipped, only the first
 * MAX_SUGGEST_CANDIDATES candidates are compared, and the distance is computed only in the band
 * the allowed distance leaves, so a hostile name costs little.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > MAX_SUGGEST_LENGTH) return undefined;
  const allowed = Math.max(1, Math.floor(word.length / 3));
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = allowed + 1;
  const n = Math.min(candidates.length, MAX_SUGGEST_CANDIDATES);
  let work = 0;
  for (let i = 0; i < n && work < MAX_SUGGEST_WORK; i++) {
    const c = candidates[i]!;
    if (Math.abs(c.length - w.length) >= bestD) continue;
    work += w.length * (2 * bestD + 1);
    const d = editDistance(w, c.toLowerCase(), bestD - 1);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

const MAX_SUGGEST_CANDIDATES = 5000;
/** Distance-table cells computed per suggestion, at most (about a millisecond). */
const MAX_SUGGEST_WORK = 50_000;

/**
 * Optimal-string-alignment distance (edits, a swap of neighbours counted as one: rma -> ram), or
 * max + 1 when it is more than `max`: only cells within `max` of the diagonal are computed.
 */
export function editDistance(a: string, b: string, max = Math.max(a.length, b.length)): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const INF = max + 1;
  const w = b.length + 1;
  let prev2 = new Array<number>(w).fill(INF);
  let prev = new Array<number>(w).fill(INF);
  let cur = new Array<number>(w).fill(INF);
  for (let j = 0; j <= Math.min(b.length, max); j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur.fill(INF);
    if (i <= max) cur[0] = i;
    const lo = Math.max(1, i - max);
    const hi = Math.min(b.length, i + max);
    let rowMin = cur[0]!;
    for (let j = lo; j <= hi; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v > INF ? INF : v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return INF;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[b.length]!, INF);
}

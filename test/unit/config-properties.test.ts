/**
 * Property tests of the loader on broken text: random mutations of the example configs (lines
 * deleted, text truncated, garbage inserted, a scalar replaced by a value of another type, a key
 * deleted) never make loadConfig throw, and every diagnostic it returns has a non-empty code and
 * message and a range inside the text; loading the same text twice gives the same diagnostics.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { isMap, isScalar, parseDocument, visit } from 'yaml';
import type { Diagnostic } from '../../src/config/diagnostics';
import { loadConfig } from '../../src/config/load';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'examples'))) return d;
  }
  return process.cwd();
}

const ROOT = repoRoot();

/** Runs per property; CONFIG_FUZZ_RUNS=5000 for a longer hunt by hand. */
const RUNS = Number(process.env.CONFIG_FUZZ_RUNS) || 250;

/** The examples as they are (each loads in milliseconds, so a few hundred runs fit). */
const EXAMPLES: ReadonlyArray<[string, string]> = ['an505.iommu.yaml', 'dual-regime.iommu.yaml'].map((f) => [
  f,
  fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'),
]);

interface Spans {
  /** [start, end) of every scalar value. */
  readonly scalars: ReadonlyArray<readonly [number, number]>;
  /** [start, end) of every key with its value. */
  readonly pairs: ReadonlyArray<readonly [number, number]>;
}

function spans(text: string): Spans {
  const doc = parseDocument(text);
  const scalars: Array<[number, number]> = [];
  const pairs: Array<[number, number]> = [];
  visit(doc, {
    Scalar: (_, s) => {
      if (s.range) scalars.push([s.range[0], s.range[1]]);
    },
    Pair: (_, p) => {
      const k = isScalar(p.key) ? p.key.range : undefined;
      const v = (p.value as { range?: [number, number, number] } | null)?.range;
      if (k && v) pairs.push([k[0], v[1]]);
    },
  });
  assert.ok(isMap(doc.contents) && scalars.length > 0 && pairs.length > 0);
  return { scalars, pairs };
}

/** Values of every other type than the one a scalar has, and malformed numbers. */
const OTHER_VALUES = [
  'true',
  'false',
  'null',
  '~',
  '[]',
  '{}',
  '[1, 2]',
  '{ a: 1 }',
  '"text"',
  "''",
  '-1',
  '1.5',
  '0',
  '4KB',
  '"0xzz"',
  '0x1_0000_0000_0000_0000',
  '18446744073709551616',
  '.inf',
  '*nowhere',
  '&anchor',
  '!tag x',
];

/** Garbage: anything, and especially what breaks parsers (NUL, lone surrogates, YAML syntax). */
const garbageUnit = fc.oneof(
  fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ufeff', '\ufffe', '\r', '\r\n', '\t', '\n', ' '),
  fc.constantFrom(':', ': ', '- ', '{', '}', '[', ']', ',', '#', '&a ', '*a', '!!', '%YAML 1.2\n', '---\n', '...\n', '"', "'", '|', '>', '? ', '@', '`'),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const garbage = fc.oneof(
  fc.string({ unit: garbageUnit, minLength: 1, maxLength: 24 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('utf8')),
);

type Mutation = (text: string, s: Spans) => string;

/** A fraction in [0, 1) picks a place, so that one mutation applies to any text. */
const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const pick = <T>(xs: readonly T[], f: number): T => xs[Math.floor(f * xs.length)]!;
const at = (text: string, f: number) => Math.floor(f * (text.length + 1));

const mutation: fc.Arbitrary<[string, Mutation]> = fc.oneof(
  fc.tuple(fraction, fc.integer({ min: 1, max: 12 })).map(([f, n]): [string, Mutation] => [
    `delete ${n} line(s) at ${f.toFixed(3)}`,
    (t) => {
      const lines = t.split('\n');
      const from = Math.floor(f * lines.length);
      lines.splice(from, n);
      return lines.join('\n');
    },
  ]),
  fraction.map((f): [string, Mutation] => [`truncate at ${f.toFixed(3)}`, (t) => t.slice(0, at(t, f))]),
  fc.tuple(fraction, garbage).map(([f, g]): [string, Mutation] => [
    `insert ${JSON.stringify(g)} at ${f.toFixed(3)}`,
    (t) => t.slice(0, at(t, f)) + g + t.slice(at(t, f)),
  ]),
  fc.tuple(fraction, garbage).map(([f, g]): [string, Mutation] => [
    `overwrite with ${JSON.stringify(g)} at ${f.toFixed(3)}`,
    (t) => t.slice(0, at(t, f)) + g + t.slice(at(t, f) + g.length),
  ]),
  fc.tuple(fraction, fc.constantFrom(...OTHER_VALUES)).map(([f, v]): [string, Mutation] => [
    `replace scalar ${f.toFixed(3)} with ${v}`,
    (t, s) => {
      const [a, b] = pick(s.scalars, f);
      return t.slice(0, a) + v + t.slice(b);
    },
  ]),
  fraction.map((f): [string, Mutation] => [
    `delete key ${f.toFixed(3)}`,
    (t, s) => {
      const [a, b] = pick(s.pairs, f);
      return t.slice(0, a) + t.slice(b);
    },
  ]),
);

/** Positions count lines by \n, as the parser does (a \r stays part of its line). */
function assertValid(text: string, d: Diagnostic, what: string): void {
  const lines = text.split('\n');
  const where = `${what}: ${d.code} ${d.message} at ${JSON.stringify(d.range)}`;
  assert.ok(typeof d.code === 'string' && d.code.length > 0, where);
  assert.ok(typeof d.message === 'string' && d.message.trim().length > 0, where);
  assert.ok(['error', 'warning', 'info'].includes(d.severity), where);
  for (const p of [d.range.start, d.range.end]) {
    assert.ok(Number.isInteger(p.line) && Number.isInteger(p.character), where);
    assert.ok(p.line >= 0 && p.line < lines.length, where);
    assert.ok(p.character >= 0 && p.character <= lines[p.line]!.length, where);
  }
  const { start, end } = d.range;
  assert.ok(start.line < end.line || (start.line === end.line && start.character <= end.character), where);
}

function check(file: string, text: string, what: string): void {
  let r: ReturnType<typeof loadConfig>;
  try {
    r = loadConfig(file, text);
  } catch (e) {
    assert.fail(`${what}: loadConfig threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  assert.ok(r.machine !== null && typeof r.machine === 'object', what);
  for (const d of r.diagnostics) assertValid(text, d, what);
  assert.ok(!r.diagnostics.some((d) => d.code === 'internal-error'), `${what}: ${r.diagnostics.find((d) => d.code === 'internal-error')?.message}`);
  assert.equal(r.errorCount, r.diagnostics.filter((d) => d.severity === 'error').length);
}

describe('config properties: mutated examples', function () {
  this.timeout(60_000);

  for (const [file, original] of EXAMPLES) {
    const s = spans(original);

    it(`${file}: loads with valid diagnostics after 1 to 3 random mutations`, () => {
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
          const text = ms.reduce((t, [, m]) => m(t, s), original);
          check(file, text, ms.map(([w]) => w).join('; '));
        }),
        { numRuns: RUNS },
      );
    });

    it(`${file} as JSON: loads with valid diagnostics after a random mutation`, () => {
      const json = JSON.stringify(parseDocument(original).toJS(), null, 2);
      const js = spans(json);
      fc.assert(
        fc.property(mutation, ([what, m]) => check(file.replace(/\.yaml$/, '.json'), m(json, js), what)),
        { numRuns: Math.ceil(RUNS / 2.5) },
      );
    });

    it(`${file}: loading the same mutated text twice gives the same diagnostics`, () => {
      fc.assert(
        fc.property(mutation, ([, m]) => {
          const text = m(original, s);
          const a = loadConfig(file, text).diagnostics;
          const b = loadConfig(file, text).diagnostics;
          assert.deepEqual(b, a);
        }),
        { numRuns: Math.ceil(RUNS / 5) },
      );
    });
  }
});

/**
 * The fast YAML route (src/config/yaml-fast.ts) against the `yaml` package's route: wherever the
 * fast reader takes a document, it must give the same value (big integers exact, `_`-grouped hex
 * a string, as YAML 1.2's core schema reads them) and every node at the same range as `yaml`, and
 * the loader the same diagnostics; what it leaves to `yaml` must be exactly what `yaml` reports on
 * or reads in ways the fast reader does not.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { ConfigDocument, posTree } from '../../src/config/document';
import { loadConfig } from '../../src/config/load';
import { fastYaml, type PosNode } from '../../src/config/yaml-fast';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'test', 'fixtures', 'config'))) return d;
  }
  return process.cwd();
}
const ROOT = repoRoot();
const RUNS = Number(process.env.CONFIG_FUZZ_RUNS) || 300;

function yamlFiles(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const dir of [path.join(ROOT, 'test', 'fixtures', 'config'), path.join(ROOT, 'examples')]) {
    for (const f of fs.readdirSync(dir).filter((x) => /\.iommu\.ya?ml$/.test(x))) out.push([f, fs.readFileSync(path.join(dir, f), 'utf8')]);
  }
  return out;
}

/** A node tree as plain data (kind, start, end, names, keys, items), for comparison. */
function plain(n: PosNode | null | undefined): unknown {
  if (n === null || n === undefined) return null;
  return {
    kind: n.kind,
    start: n.start,
    end: n.end,
    names: n.names ? [...n.names] : undefined,
    keys: n.keys?.map(plain),
    items: n.items?.map(plain),
  };
}

/**
 * Whether the fast reader takes the text; where it does, that it agrees with `yaml` on the value
 * and every range, and that `yaml` reports nothing.
 */
function agrees(text: string, label = text.slice(0, 60)): boolean {
  const fast = fastYaml(text);
  if (!fast) return false;
  const slow = new ConfigDocument('f.iommu.yaml', text, 'yaml');
  assert.deepEqual(slow.parseDiagnostics, [], `${label}: the fast reader took a text yaml reports on`);
  assert.deepEqual(fast.value, slow.toJS(), `${label}: values differ`);
  assert.deepEqual(plain(fast.root), plain(posTree(slow.doc.contents)), `${label}: ranges differ`);
  return true;
}

describe('config: the fast YAML route', () => {
  it('agrees with the yaml route on every fixture and example: values, ranges, diagnostics, messages and fixes', function () {
    this.timeout(60_000);
    let fast = 0;
    const files = yamlFiles();
    for (const [file, text] of files) {
      if (agrees(text, file)) fast++;
      const a = loadConfig(file, text);
      const b = loadConfig(file, text, { parser: 'yaml' });
      assert.deepEqual(a.diagnostics, b.diagnostics, file);
      for (const p of a.definitions.values()) {
        const id = '/' + p.join('/');
        assert.deepEqual(a.rangeOf(id), b.rangeOf(id), `${file} ${id}`);
      }
      for (let off = 0; off <= text.length; off += 7) assert.deepEqual(a.document.pathAt(off), b.document.pathAt(off), `${file} at ${off}`);
    }
    // The fixtures with syntax errors, tags and aliases go to yaml; nearly all others must not.
    assert.ok(fast >= files.length - 10, `only ${fast} of ${files.length} files took the fast route`);
  });

  it('reads big integers exactly and `_`-grouped hex as a string, as YAML 1.2 does', () => {
    const text = 'a: 18446744073709551615\nb: 0x1000_0000\nc: 0xffff_ffff_ffff_ffff\nd: -9007199254740993\ne: 0x20000000000001\nf: 9007199254740991\ng: [0o17, +5, -0, 1.50, 1e3, .inf, ~, True, "0x10", \'x\']\n';
    assert.ok(agrees(text));
    const v = fastYaml(text)!.value as Record<string, unknown>;
    assert.equal(v.a, 18446744073709551615n);
    assert.equal(v.b, '0x1000_0000');
    assert.equal(v.c, '0xffff_ffff_ffff_ffff');
    assert.equal(v.d, -9007199254740993n);
    assert.equal(v.e, 0x20000000000001n);
    assert.equal(v.f, 9007199254740991);
    assert.deepEqual(v.g, [15, 5, 0, 1.5, 1000, Infinity, null, true, '0x10', 'x']);
  });

  it('a region named by an integer too large for a double is a diagnostic, not an internal error (found by npm run fuzz)', () => {
    const text = 'iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - at: 0\n      region: 18446744073709552000\n';
    for (const parser of ['fast', 'yaml'] as const) {
      const c = loadConfig('f.iommu.yaml', text, { parser });
      assert.ok(!c.diagnostics.some((d) => d.code === 'internal-error'), c.diagnostics.map((d) => d.message).join('\n'));
      assert.ok(c.errorCount > 0);
    }
  });

  it('leaves to the yaml route what it would report on or read otherwise', () => {
    const left = [
      'a: 1\na: 2\n', // a key twice
      'a: 1\n0x1: 2\n1: 3\n', // the same key written twice over
      'a: &x 1\nb: *x\n', // anchors, aliases
      'a: !!str 1\n', // tags
      'a: |\n  text\n', // block scalars
      'a: x\n  y\n', // a plain scalar over two lines
      'a: "x\n  y"\n', // a quoted one
      'a:\tb\n', // tabs
      'a: 1\r\nb: 2\r\n', // carriage returns
      '\ufeffa: 1\n', // a byte-order mark
      '---\na: 1\n', // document markers
      'a: 1\n---\nb: 2\n',
      '%YAML 1.2\n---\na: 1\n',
      '? a\n: 1\n', // explicit keys
      '[a, b]: 1\n',
      'a: [1, 2,]\n', // a trailing comma
      'a: {b}\n', // a flow key without value
      'a: [\n1]\n', // a flow line not indented past its parent
      'a: b: c\n',
      'a: "\\x41"\n', // an escape JSON does not have
      `${'k'.repeat(1100)}: 1\n`,
      '  a: 1\n', // an indented document
      'x\n',
      '',
    ];
    for (const t of left) assert.equal(fastYaml(t), undefined, JSON.stringify(t.slice(0, 40)));
  });

  // ---- random documents in the fast subset, written as people write configs

  const word = fc.constantFrom('ram', 'sram', 'system', 'smmu0', 'mpc0', 'r1', 'dev-a', 'x_y', 'iommu-lens', '__proto__', 'constructor', 'a b', 'name.with.dots', 'k/ey', 'é');
  const scalarText = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('0x1000_0000', '0x4000', '4KiB', '64KiB', '1MiB', '  12 MiB', 'rw', 'ro', 'table', 'smmuv3', 'qemu-7.2') },
    { weight: 3, arbitrary: fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map((v) => v.toString()) },
    { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => '0x' + v.toString(16)) },
    {
      weight: 2,
      arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => '0x' + v.toString(16).replace(/\B(?=([0-9a-f]{4})+$)/g, '_')),
    },
    { weight: 2, arbitrary: fc.constantFrom('0o17', '+5', '-0', '007', '1.5', '1.50', '-2.', '.5', '1e3', '-1E-2', '.inf', '-.Inf', '.nan', '~', 'null', 'Null', 'true', 'False', 'TRUE', 'yes', 'off', '0b101', '0X1F', '1_000') },
    { weight: 2, arbitrary: word },
    { weight: 1, arbitrary: fc.constantFrom('"quoted"', '"with \\"escape\\" and \\\\ \\n \\u00e9"', "'single'", "'it''s'", '""', "''", '"0x10"', "'123'", '"a: b"', '"# not a comment"') },
    { weight: 1, arbitrary: fc.constantFrom('a#b', 'x-y:z', 'path/to/file.bin', '-1', ':x', 'a  b') },
  );
  const keyText = fc.oneof({ weight: 6, arbitrary: word }, { weight: 1, arbitrary: fc.constantFrom('1', '0x10', '"quoted key"', "'q'", 'true', '1.5', '18446744073709551616') });

  type Tree = { t: 's'; text: string } | { t: 'm'; entries: Array<[string, Tree]>; flow: boolean } | { t: 'q'; items: Tree[]; flow: boolean };
  const tree = fc.letrec<{ node: Tree; map: Tree; seq: Tree }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, { weight: 4, arbitrary: scalarText.map((text): Tree => ({ t: 's', text })) }, tie('map'), tie('seq')),
    map: fc.record({ entries: fc.array(fc.tuple(keyText, tie('node')), { minLength: 1, maxLength: 5 }), flow: fc.boolean() }).map((m): Tree => ({ t: 'm', ...m })),
    seq: fc.record({ items: fc.array(tie('node'), { minLength: 1, maxLength: 5 }), flow: fc.boolean() }).map((q): Tree => ({ t: 'q', ...q })),
  }));

  /** Layout choices, consumed in turn: comments, blank lines, line breaks in flow collections, indentation. */
  function writer(choices: readonly number[]) {
    let k = 0;
    const pick = (n: number) => choices[k++ % choices.length]! % n;
    const comment = () => (pick(5) === 0 ? '   # note: x' : '');
    const extraLines = (indent: number) => {
      const c = pick(8);
      return c === 0 ? ['', ''] : c === 1 ? [' '.repeat(indent + pick(3)) + '# a comment line'] : c === 2 ? ['# at column 0', ''] : [];
    };
    const flowText = (t: Tree, indent: number): string => {
      if (t.t === 's') return t.text.trim() === '' || /^[-?:]\s|^['"]/.test(t.text) ? t.text.trim() || '""' : t.text.trim();
      const parts = t.t === 'm' ? t.entries.map(([k, v]) => `${k}: ${flowText(v, indent)}`) : t.items.map((v) => flowText(v, indent));
      const sep = pick(4) === 0 ? `,\n${' '.repeat(indent + 1 + pick(4))}` : pick(2) ? ', ' : ',';
      const [o, c] = t.t === 'm' ? ['{', '}'] : ['[', ']'];
      const pad = pick(2) ? ' ' : '';
      return parts.length ? `${o}${pad}${parts.join(sep)}${pad}${c}` : `${o}${c}`;
    };
    const step = () => 2 + pick(3);
    const block = (t: Tree, indent: number, out: string[]): void => {
      if (t.t === 'm') {
        for (const [key, v] of t.entries) {
          out.push(...extraLines(indent));
          const head = ' '.repeat(indent) + key + ':';
          if (v.t === 's' || v.flow) out.push(`${head} ${flowText(v, indent)}${comment()}`);
          else if (v.t === 'q' && pick(2) === 0) {
            out.push(head + comment());
            block(v, indent, out);
          } else {
            out.push(head + comment());
            block(v, indent + step(), out);
          }
        }
      } else if (t.t === 'q') {
        for (const v of t.items) {
          out.push(...extraLines(indent));
          const dash = ' '.repeat(indent) + '-';
          if (v.t === 's' || v.flow) out.push(`${dash} ${flowText(v, indent)}${comment()}`);
          else if (v.t === 'm' && pick(2) === 0) {
            // A compact mapping: its first key on the dash's line.
            const inner: string[] = [];
            block(v, indent + 2, inner);
            const first = inner.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
            out.push(...inner.slice(0, first), `${dash} ${inner[first]!.slice(indent + 2)}`, ...inner.slice(first + 1));
          } else {
            out.push(dash + comment());
            block(v, indent + step(), out);
          }
        }
      }
    };
    return (t: Tree): string => {
      const out: string[] = [];
      if (pick(3) === 0) out.push('# a config', '');
      block(t, 0, out);
      if (pick(3) === 0) out.push('# the end');
      return out.join('\n') + (pick(4) ? '\n' : '');
    };
  }

  const documents = fc
    .tuple(
      fc.oneof(
        fc.array(fc.tuple(keyText, tree.node), { minLength: 1, maxLength: 6 }).map((entries): Tree => ({ t: 'm', entries, flow: false })),
        fc.array(tree.node, { minLength: 1, maxLength: 4 }).map((items): Tree => ({ t: 'q', items, flow: false })),
      ),
      fc.array(fc.nat(), { minLength: 8, maxLength: 40 }),
    )
    .map(([t, choices]) => writer(choices)(t));

  it(`takes random documents in its subset and agrees with yaml on each (${RUNS} runs)`, function () {
    this.timeout(120_000);
    let fast = 0;
    fc.assert(
      fc.property(documents, (text) => {
        if (agrees(text)) fast++;
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED) || 909 },
    );
    // Keys written twice and such go to yaml; most documents must not.
    assert.ok(fast >= RUNS * 0.6, `only ${fast} of ${RUNS} documents took the fast route`);
  });

  it(`gives the loader the same diagnostics as the yaml route on random configs (${RUNS} runs)`, function () {
    this.timeout(120_000);
    const examples = yamlFiles().filter(([f]) => !f.includes('too-deep'));
    const edits = fc.array(fc.tuple(fc.nat(), fc.constantFrom('', ' ', '  ', '\n', '#', ': ', '- ', '[', ']', '{', '}', ',', '"', "'", '0x1_0', '18446744073709551616', 'x')), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(fc.constantFrom(...examples), edits, ([file, text], ed) => {
        let t = text;
        for (const [at, ins] of ed) {
          const i = at % (t.length + 1);
          t = ins === '' ? t.slice(0, i) + t.slice(i + 2) : t.slice(0, i) + ins + t.slice(i);
        }
        agrees(t, file);
        const a = loadConfig(file, t);
        const b = loadConfig(file, t, { parser: 'yaml' });
        assert.deepEqual(a.diagnostics, b.diagnostics, file);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED) || 4242 },
    );
  });
});

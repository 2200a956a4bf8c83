/**
 * The project's own fuzz suite (issue 15): generated hostile configs and memory images, each run
 * through load, check, every view model, translate, replay and run. For every case: no exception
 * escapes, the work done stays within a budget (counted in steps by the engine's work meter, not
 * timed), the heap stays bounded, every diagnostic's range lies inside the text, and the same
 * input gives the same output twice.
 *
 * Seeded and budgeted for `npm test` (a few tens of seconds); `npm run fuzz` runs many more cases
 * (FUZZ_RUNS, and FUZZ_SEED to explore other seeds).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { fileCheckReport, notifiersReport, replayReport, runReport, translateReport, treeReport } from '../../src/cli/reports';
import type { Diagnostic } from '../../src/config/diagnostics';
import { ConfigDocument } from '../../src/config/document';
import { fastJsonValue } from '../../src/config/json-fast';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { compileValidator } from '../../src/config/schema-validator';
import { quickValid, validateSchema } from '../../src/config/validate';
import { workDone } from '../../src/engine';
import { MemoryByteSource } from '../../src/engine/images/byte-source';
import { codeLenses, hoverAt } from '../../src/views/editor';
import { toJson } from '../../src/views/format';
import { configNode, notifierTree } from '../../src/views/tree-model';
import { mappingPageView, regionViews, registrationViews } from '../../src/views/views';
import { elfCoreBytes } from '../fixtures/images/elf-core-writer';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'examples'))) return d;
  }
  return process.cwd();
}

const ROOT = repoRoot();
const RUNS = Number(process.env.FUZZ_RUNS) || 40;
const SEED = Number(process.env.FUZZ_SEED) || 1515;
/** Steps one case may cost: loading, every view, a few translations, replays and the scenario. */
const WORK_BUDGET = 20_000_000;
/** Heap growth one case may cause (it is released afterwards; this catches an explosion). */
const HEAP_BUDGET = 512 * 1024 * 1024;

const EXAMPLES = fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.iommu.yaml')).map((f) => fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'));

// ---- generators

/** Names, some of them hostile: prototype keys, long, odd characters. */
const NAMES = ['ram', 'sram', 'bus', 'sys', 'system', 'dma', 'smmu0', 'remap0', 'mpc0', 'a', 'b', 'c', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];
const name = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ minLength: 0, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 3000 }).map((n) => 'n'.repeat(n)) },
);

/** Numbers as a config writes them, and wild ones. */
const num = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 0x1000, 0x10000, 0x100000, '4KiB', '64KiB', '1MiB', '0x4000_0000', '0x8000_0000', '16MiB') },
  { weight: 2, arbitrary: fc.bigInt({ min: -(1n << 65n), max: 1n << 66n }).map((v) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`)) },
  { weight: 1, arbitrary: fc.constantFrom('0x', '4KB', '1.5', -1, 1.5, '0x' + 'f'.repeat(64), '0b102', '  12 MiB  ', '0x1_', 'EiB', null, true, [], {}) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 5000 }).map((n) => '0x' + 'a'.repeat(n) + '!') },
);

const perm = fc.constantFrom('rw', 'ro', 'wo', 'none', 'constructor', 'x');

const entry = fc.oneof(
  fc.record({ at: num, region: name, priority: fc.option(fc.integer({ min: -2, max: 2 }), { nil: undefined }) }, { requiredKeys: ['at', 'region'] }),
  fc.record({ at: num, alias: name, offset: fc.option(num, { nil: undefined }), size: fc.option(num, { nil: undefined }) }, { requiredKeys: ['at', 'alias'] }),
);

const region = fc.oneof(
  fc.record({ kind: fc.constant('ram'), size: num, contents: fc.option(fc.array(fc.record({ at: num, value: num, size: fc.constantFrom(1, 2, 4, 8) }), { maxLength: 4 }), { nil: undefined }) }, { requiredKeys: ['kind', 'size'] }),
  fc.record({ kind: fc.constant('ram'), size: num, image: fc.record({ file: fc.constantFrom('raw.bin', 'core.elf', 'missing.bin'), format: fc.constantFrom('raw', 'elf-core', 'zip'), offset: fc.option(num, { nil: undefined }) }, { requiredKeys: ['file', 'format'] }) }),
  fc.record({ kind: fc.constant('mmio'), size: num }),
  fc.record({ kind: fc.constant('container'), size: num, subregions: fc.array(entry, { maxLength: 4 }) }),
);

const mapping = fc.record({ iova: num, size: num, target: name, addr: num, perm });
const tableIommu = fc.record({
  model: fc.constant('table'),
  size: num,
  'page-size': fc.constantFrom('4KiB', '64KiB', 3, 0),
  indexes: fc.array(fc.record({ name: name, default: fc.boolean(), match: fc.option(fc.record({ user: fc.boolean(), secure: fc.boolean() }), { nil: undefined }), mappings: fc.array(mapping, { maxLength: 4 }) }, { requiredKeys: ['name', 'mappings'] }), { minLength: 0, maxLength: 3 }),
});
const word = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0x${v.toString(16)}`);
const smmuIommu = fc.record(
  {
    model: fc.constant('smmuv3'),
    'walk-memory': name,
    registers: fc.record(
      { 'strtab-base': word, 'strtab-base-cfg': word, cr0: fc.integer({ min: 0, max: 31 }), 'cmdq-base': word, 'eventq-base': word, as: name, at: num },
      { requiredKeys: [] },
    ),
    build: fc.record({
      at: fc.constantFrom('ram+0x10_0000', 'ram+0', 'nothing+0', 'ram'),
      streams: fc.dictionary(
        fc.constantFrom('0x0', '0x10', '0x18', '0xffff'),
        fc.record({ stage1: fc.record({ granule: fc.constantFrom('4KiB', '16KiB', '64KiB', '8KiB'), t0sz: fc.integer({ min: 0, max: 64 }), asid: fc.integer({ min: 0, max: 70000 }), map: fc.array(fc.record({ iova: num, size: num, pa: num, perm }), { maxLength: 3 }) }) }),
        { maxKeys: 3 },
      ),
    }),
  },
  { requiredKeys: ['model', 'walk-memory'] },
);
const mpcIommu = fc.record({ model: fc.constant('tz-mpc'), size: num, 'block-size': fc.constantFrom('4KiB', '32KiB', 5), downstream: name, lut: fc.array(word, { maxLength: 3 }) }, { requiredKeys: ['model'] });

const device = fc.oneof(
  fc.record({ as: name }),
  fc.record({ kind: fc.constantFrom('pci', 'vfio-pci', 'vhost', 'initiator'), bdf: fc.constantFrom('00:02.0', '00:03.0', '00:04.0', '00:20.0', 'x'), iommu: name, 'device-iotlb': fc.boolean() }, { requiredKeys: ['iommu'] }),
);
const notifier = fc.record({ region: name, index: fc.oneof(fc.integer({ min: -1, max: 3 }), name), flags: fc.array(fc.constantFrom('map', 'unmap', 'deviotlb-unmap', 'constructor'), { maxLength: 3 }), range: fc.option(fc.tuple(num, num), { nil: undefined }), replay: fc.boolean() }, { requiredKeys: ['region', 'flags'] });
const step = fc.oneof(
  fc.record({ access: fc.record({ from: name, addr: num, op: fc.constantFrom('read', 'write'), size: fc.constantFrom(1, 2, 4, 8, 3), value: fc.option(num, { nil: undefined }) }, { requiredKeys: ['from', 'addr'] }) }),
  fc.record({ 'write-mem': fc.record({ as: name, addr: num, value: word, size: fc.constantFrom(1, 2, 4, 8) }) }),
  fc.record({ 'read-mem': fc.record({ as: name, addr: num, size: fc.constantFrom(4, 8) }) }),
  fc.record({ 'write-reg': fc.record({ iommu: name, reg: fc.constantFrom('cr0', 'gbpa', 'strtab-base', 'cmdq-prod', 'ctrl', 'x'), value: word }) }),
  fc.record({ map: fc.record({ iommu: name, index: fc.integer({ min: 0, max: 2 }), iova: num, size: num, addr: num, target: name, perm }) }),
  fc.record({ unmap: fc.record({ iommu: name, index: fc.integer({ min: 0, max: 2 }), iova: num, size: num }) }),
  fc.record({ command: fc.record({ iommu: name, op: fc.constantFrom('CMD_TLBI_NH_ALL', 'CMD_CFGI_ALL', 'CMD_SYNC', 'CMD_TLBI_NH_VA', 'nonsense'), addr: num, asid: fc.integer({ min: 0, max: 9 }) }, { requiredKeys: ['iommu', 'op'] }) }),
  fc.record({ expect: fc.record({ from: name, addr: num, faults: fc.boolean() }) }),
);

/** A config from parts, with cycles through regions, aliases, containers, IOMMU targets and walk memories likely. */
const generatedConfig = fc
  .record({
    memory: fc.dictionary(name, region, { maxKeys: 6 }),
    iommus: fc.dictionary(name, fc.oneof(tableIommu, smmuIommu, mpcIommu), { maxKeys: 3 }),
    'address-spaces': fc.dictionary(name, fc.array(entry, { maxLength: 4 }), { maxKeys: 4 }),
    devices: fc.dictionary(name, device, { maxKeys: 4 }),
    notifiers: fc.dictionary(name, notifier, { maxKeys: 2 }),
    scenario: fc.array(step, { maxLength: 6 }),
  })
  .map((parts) => ({ 'iommu-lens': 1, ...parts }));

/** Structure and type mutations of a value: a subtree replaced, deleted, or duplicated. */
function mutate(v: unknown, choices: number[], depth = 0): unknown {
  const c = choices[depth % choices.length]!;
  if (v !== null && typeof v === 'object' && depth < 8) {
    if (Array.isArray(v)) {
      if (!v.length) return c % 2 ? [{}] : v;
      const i = c % v.length;
      const out = v.slice();
      if (c % 7 === 0) out.splice(i, 1);
      else if (c % 7 === 1) out.push(out[i]);
      else out[i] = mutate(out[i], choices, depth + 1);
      return out;
    }
    const keys = Object.keys(v);
    if (!keys.length) return v;
    const k = keys[c % keys.length]!;
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (c % 11 === 0) delete out[k];
    else if (c % 11 === 1) out[k] = WILD[c % WILD.length];
    else out[k] = mutate(out[k], choices, depth + 1);
    return out;
  }
  return WILD[c % WILD.length];
}
const WILD: unknown[] = [null, true, 0, -1, 1.5, '', 'x', '__proto__', '0x' + 'f'.repeat(40), [], {}, [[[[]]]], { a: { b: { c: 1 } } }, 'ram', 'system', 2 ** 64, 'constructor'];

/** Examples, mutated in structure and written back as YAML or JSON. */
const mutatedExample = fc
  .tuple(fc.constantFrom(...EXAMPLES), fc.array(fc.nat(1000), { minLength: 1, maxLength: 12 }), fc.nat(3), fc.boolean())
  .map(([text, choices, times, json]) => {
    let v: unknown = loadConfig('x.iommu.yaml', text).document.toJS();
    for (let i = 0; i <= times; i++) v = mutate(v, choices.map((c) => c + i * 17));
    return { text: json ? JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x), 2) : stringify(v), json };
  });

/** YAML tricks: aliases, anchors, deep and unclosed nesting, tags, documents, long scalars. */
const yamlTrick = fc.oneof(
  fc.integer({ min: 1, max: 400 }).map((n) => 'iommu-lens: 1\nname: ' + '['.repeat(n) + ']'.repeat(n % 3 ? n : 0) + '\n'),
  fc.integer({ min: 1, max: 300 }).map((n) => 'iommu-lens: 1\nname:\n' + Array.from({ length: n }, (_, i) => ' '.repeat(i + 1) + `k${i}:`).join('\n') + '\n'),
  fc.integer({ min: 2, max: 3000 }).map((n) => {
    let s = 'iommu-lens: 1\nx:\n  - &a0 [1, 2]\n';
    for (let i = 1; i < n; i++) s += `  - &a${i} [*a${i - 1}, *a${i - 1}]\n`;
    return s;
  }),
  fc.constantFrom(
    'iommu-lens: 1\nmemory: &m\n  ram: { kind: ram, size: 4KiB, x: *m }\n',
    'iommu-lens: 1\nmemory:\n  ram: &r { kind: ram, size: 4KiB }\n  ram2: *r\naddress-spaces:\n  system: [ { at: 0, region: ram }, { at: 0x1000, region: ram2 } ]\n',
    'iommu-lens: 1\n---\niommu-lens: 1\n',
    'iommu-lens: !!binary aGVsbG8=\nmemory: !!set { a, b }\n',
    'iommu-lens: 1\nmemory:\n  ? [a, b]\n  : { kind: ram, size: 1 }\n',
    '{"iommu-lens": 1, "memory": {"__proto__": {"kind": "ram", "size": 4096}}}',
    'iommu-lens: 1\nname: *nothing\n',
    '\ufeffiommu-lens: 1\r\nname: "unterminated\n',
    'iommu-lens: 1\nmemory: { a: { kind: container, size: 4KiB, subregions: [ { at: 0, alias: a } ] } }\naddress-spaces: { s: [ { at: 0, region: a } ] }\n',
  ),
);

/** Text mutations of the examples: characters inserted, deleted, lines swapped. */
const textMutation = fc.tuple(fc.constantFrom(...EXAMPLES), fc.array(fc.tuple(fc.nat(), fc.constantFrom('', '[', ']', '{', '}', ':', '- ', '*a', '&a ', '"', "'", '#', '\n', '\t', '0x', '!!str ', '? ')), { minLength: 1, maxLength: 6 })).map(([text, edits]) => {
  let t = text;
  for (const [at, ins] of edits) {
    const i = at % (t.length + 1);
    t = ins === '' ? t.slice(0, i) + t.slice(i + 3) : t.slice(0, i) + ins + t.slice(i);
  }
  return t;
});

/** Memory images for `image:` (raw bytes, ELF cores well- and ill-formed). */
const image = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.tuple(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.integer({ min: 0, max: 3 }), fc.nat(200)).map(([addr, segs, cut]) => {
    const bytes = elfCoreBytes({ segments: Array.from({ length: segs }, (_, i) => ({ paddr: addr + BigInt(i) * 0x1000n, memsz: 0x200n, filesz: i === 2 ? 0x100n : undefined, offset: i === 3 ? (1n << 64n) - 1n : undefined })) });
    return cut ? bytes.slice(0, Math.max(0, bytes.length - cut)) : bytes;
  }),
);

const hostile = fc.record({
  config: fc.oneof(
    { weight: 4, arbitrary: generatedConfig.map((v) => ({ text: stringify(v), json: false })) },
    { weight: 1, arbitrary: generatedConfig.map((v) => ({ text: JSON.stringify(v), json: true })) },
    { weight: 3, arbitrary: mutatedExample },
    { weight: 2, arbitrary: yamlTrick.map((text) => ({ text, json: text.startsWith('{') })) },
    { weight: 2, arbitrary: textMutation.map((text) => ({ text, json: false })) },
  ),
  raw: image,
  core: image,
  addrs: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 3 }),
  offsets: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
});

// ---- the run of one case

type Case = typeof hostile extends fc.Arbitrary<infer T> ? T : never;

function load(c: Case): LoadedConfig {
  const images: Record<string, Uint8Array> = { 'raw.bin': c.raw, 'core.elf': c.core };
  return loadConfig(c.config.json ? 'f.iommu.json' : 'f.iommu.yaml', c.config.text, {
    openImage: (file) => {
      const b = Object.hasOwn(images, file) ? images[file] : undefined;
      if (!b) throw new Error(`cannot open ${file}: no such file`);
      return new MemoryByteSource(b, file);
    },
  });
}

/** Everything the CLI and the extension show for a config, as one text. */
function everything(c: Case): { cfg: LoadedConfig; out: string } {
  const cfg = load(c);
  const parts: unknown[] = [fileCheckReport(cfg), treeReport(cfg, 16), notifiersReport(cfg)];
  const opts = { pageSize: 8, pagesOpen: new Map<string, number>() };
  parts.push(configNode(cfg, opts, 'f'), notifierTree(cfg), codeLenses(cfg), registrationViews(cfg).length);
  for (const r of regionViews(cfg).slice(0, 4)) {
    for (let i = 0; i < Math.min(r.region.numIndexes(), 2); i++) parts.push(mappingPageView(r.region, i, undefined, 8));
  }
  for (const o of c.offsets) parts.push(hoverAt(cfg, o % (c.config.text.length + 1)));
  const initiators = [...cfg.machine.devices.keys(), ...cfg.machine.addressSpaces.keys()].slice(0, 4);
  for (const from of initiators) {
    for (const addr of c.addrs) {
      parts.push(translateReport(cfg, { from, addr, op: addr & 1n ? 'write' : 'read' }, true));
    }
  }
  for (const r of cfg.machine.registrations.slice(0, 3)) parts.push(replayReport(cfg, r.name, 16));
  parts.push(runReport(load(c), { checkShadows: true }));
  return { cfg, out: toJson(parts) };
}

function assertInside(text: string, d: Diagnostic): void {
  const lines = text.split('\n');
  const ok = (p: Diagnostic['range']['start']) => p.line >= 0 && p.line < lines.length && p.character >= 0 && p.character <= lines[p.line]!.length;
  assert.ok(ok(d.range.start) && ok(d.range.end), `${d.code} at ${JSON.stringify(d.range)} is outside the text`);
  assert.ok(d.range.start.line < d.range.end.line || (d.range.start.line === d.range.end.line && d.range.start.character <= d.range.end.character), `${d.code}: range ends before it starts`);
  assert.ok(d.code && d.message, 'a diagnostic without code or message');
}

describe('fuzz: hostile configs and images through every entry point', function () {
  this.timeout(Math.max(120_000, RUNS * 3000));

  it(`${RUNS} generated cases (seed ${SEED}): no exception, bounded work and heap, diagnostics inside the text, deterministic`, () => {
    fc.assert(
      fc.property(hostile, (c) => {
        const heap0 = process.memoryUsage().heapUsed;
        const work0 = workDone();
        const first = everything(c);
        const work = workDone() - work0;
        assert.ok(work <= WORK_BUDGET, `work ${work} steps is over the budget ${WORK_BUDGET}`);
        assert.ok(process.memoryUsage().heapUsed - heap0 < HEAP_BUDGET, 'heap grew past its budget');
        assert.ok(!first.cfg.diagnostics.some((d) => d.code === 'internal-error'), first.cfg.diagnostics.filter((d) => d.code === 'internal-error').map((d) => d.message).join('\n'));
        for (const d of first.cfg.diagnostics) assertInside(c.config.text, d);
        const second = everything(c);
        assert.equal(second.out, first.out, 'the same input gave a different output');
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});

describe('the fast JSON route and the yaml route agree', function () {
  this.timeout(Math.max(120_000, RUNS * 150));
  const fullValidator = compileValidator();

  it(`on ${RUNS * 3} random configs (seed ${SEED}): the same values, diagnostics, ranges and messages`, () => {
    const indent = fc.constantFrom(0, 1, 2, 4);
    fc.assert(
      fc.property(generatedConfig, indent, (v, n) => {
        const text = JSON.stringify(v, null, n);
        const fast = new ConfigDocument('f.iommu.json', text);
        const slow = new ConfigDocument('f.iommu.json', text, 'yaml');
        assert.deepEqual(fast.toJS(), slow.toJS());
        const a = loadConfig('f.iommu.json', text);
        const b = loadConfig('f.iommu.json', text, { parser: 'yaml' });
        assert.deepEqual(a.diagnostics, b.diagnostics);
        // The quick validator (a valid config's only check) accepts exactly what the full one does.
        assert.equal(quickValid(fast.toJS()), validateSchema(fast, fast.toJS(), fullValidator).length === 0);
        for (const id of [...a.definitions.values()].map((p) => '/' + p.join('/'))) assert.deepEqual(a.rangeOf(id), b.rangeOf(id));
      }),
      { numRuns: RUNS * 3, seed: SEED },
    );
  });

  it('leaves to the yaml route what it would read differently or report', () => {
    for (const text of ['{"a": 1, "a": 2}', '{"a":\t1}', '\ufeff{}', '[]', '{"a": 1} x', '{"a": 01}', '{"' + 'k'.repeat(1100) + '": 1}', '{"a": "\u0001"}']) {
      assert.equal(fastJsonValue(text), undefined, text.slice(0, 40));
    }
    assert.deepEqual(fastJsonValue('{"a": 18446744073709551615, "b": -0, "c": 1.5e3, "d": "x\\ny", "__proto__": {"e": null}}'), new ConfigDocument('x.iommu.json', '{"a": 18446744073709551615, "b": -0, "c": 1.5e3, "d": "x\\ny", "__proto__": {"e": null}}', 'yaml').toJS());
  });
});

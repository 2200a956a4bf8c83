/**
 * Memory images in the device config: `image:` on a RAM region read through loadConfig's
 * openImage hook (diagnostics at the `image` key and the `file` / `offset` values, never an
 * exception, even from the hook), `contents:` as bytes, the CLI passing the Node hook, and the
 * layering: the loader reads no files itself.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../src/cli/program';
import type { CliIO } from '../../src/cli/commands';
import { loadConfig, type LoadedConfig, type LoadOptions } from '../../src/config/load';
import { validateSchema } from '../../src/config/validate';
import { ConfigDocument } from '../../src/config/document';
import { engineError, isEngineError, RamRegion, runScenario } from '../../src/engine';
import { MemoryByteSource } from '../../src/engine/images/byte-source';
import { ImageBacking } from '../../src/engine/images/image-backing';
import { openImageFile } from '../../src/node/images';
import { elfCoreBytes, le, pattern, writeElfCore } from '../fixtures/images/elf-core-writer';

function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'src', 'node'))) return d;
  }
  return process.cwd();
}
const ROOT = repoRoot();

/** `line:col` (one-based, as the CLI prints) of the nth occurrence of `needle`, plus `shift` columns. */
function pos(text: string, needle: string, nth = 0, shift = 0): string {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = text.indexOf(needle, i + 1);
    assert.ok(i >= 0, `"${needle}" #${nth} not in the text`);
  }
  const before = text.slice(0, i);
  const line = before.split('\n').length;
  return `${line}:${i - before.lastIndexOf('\n') + shift}`;
}

function diags(cfg: LoadedConfig): string[] {
  return cfg.diagnostics.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.severity} ${d.code} ${d.message}`);
}

function ram(cfg: LoadedConfig, name = 'ddr'): RamRegion {
  const r = cfg.machine.regions.get(name);
  assert.ok(r instanceof RamRegion, `${name} is not built`);
  return r;
}

function read(cfg: LoadedConfig, name: string, at: bigint, size: 1 | 2 | 4 | 8 = 8): bigint {
  const v = ram(cfg, name).backing.read(at, size);
  if (isEngineError(v)) assert.fail(v.message);
  return v;
}

/** A hook over in-memory files, recording what it was asked. */
function memoryHook(files: Record<string, Uint8Array>, calls: Array<[string, string]> = []): NonNullable<LoadOptions['openImage']> {
  return (p, rel) => {
    calls.push([p, rel]);
    const b = files[p];
    return b ? new MemoryByteSource(b, p) : engineError('image-open', `cannot open ${p}: no such file`);
  };
}

const core = elfCoreBytes({
  segments: [
    { paddr: 0x8000_0000n, memsz: 0x2000n, data: [{ at: 0n, bytes: le(0x1111_2222_3333_4444n, 8) }] },
    { paddr: 0x8000_4000n, memsz: 0x1000n, data: [{ at: 0x10n, bytes: le(0xabcdn, 2) }] },
  ],
});

describe('config: image on a RAM region', () => {
  const text = [
    'iommu-lens: 1',
    'memory:',
    '  ddr:',
    '    kind: ram',
    '    size: 64KiB',
    '    image: { file: dumps/guest.elf, format: elf-core, offset: 0x8000_0000 }',
    '    contents: [ { at: 0x8, value: 0x99 } ]',
    '  boot: { kind: ram, size: 8KiB, image: { file: boot.bin, format: raw, offset: 0x10 } }',
    'address-spaces:',
    '  system:',
    '    - { at: 0x8000_0000, region: ddr }',
    '    - { at: 0x0, region: boot }',
    'devices:',
    '  cpu: { as: system }',
    '',
  ].join('\n');

  it('reads the image through the hook, relative to the config file', () => {
    const calls: Array<[string, string]> = [];
    const cfg = loadConfig('cfg/machine.iommu.yaml', text, { openImage: memoryHook({ 'dumps/guest.elf': core, 'boot.bin': pattern(0x100) }, calls) });
    assert.deepEqual(diags(cfg), []);
    assert.deepEqual(calls, [
      ['dumps/guest.elf', 'cfg/machine.iommu.yaml'],
      ['boot.bin', 'cfg/machine.iommu.yaml'],
    ]);
    assert.ok(ram(cfg).backing instanceof ImageBacking);
    assert.equal(read(cfg, 'ddr', 0n), 0x1111_2222_3333_4444n);
    assert.equal(read(cfg, 'ddr', 0x8n), 0x99n, '`contents:` are written over the image');
    assert.equal(read(cfg, 'ddr', 0x4010n, 2), 0xabcdn);
    assert.ok(isEngineError(ram(cfg).backing.read(0x2000n, 8)), 'a gap in the dump faults');
    assert.equal(read(cfg, 'boot', 0n, 4), 0x13121110n);
    assert.equal(read(cfg, 'boot', 0xf0n, 1), 0n, 'past the image: zeros');
  });

  it('a scenario writes into the overlay and reads back through the address space', () => {
    const withScenario = text + ['scenario:', '  - write-mem: { as: system, addr: 0x8000_4010, value: 0x7777, size: 2 }', '  - read-mem: { as: system, addr: 0x8000_4010, size: 4 }', ''].join('\n');
    const cfg = loadConfig('m.iommu.yaml', withScenario, { openImage: memoryHook({ 'dumps/guest.elf': core, 'boot.bin': pattern(0x100) }) });
    assert.deepEqual(diags(cfg), []);
    const r = runScenario(cfg.machine, cfg.scenario);
    assert.equal(r.failed, 0, r.steps.map((s) => s.summary).join('\n'));
    assert.equal(r.steps[1]!.value, 0x7777n);
  });

  it('without a hook: an info at the image key, and the region reads as zeros', () => {
    const cfg = loadConfig('m.iommu.yaml', text);
    assert.deepEqual(diags(cfg), [
      `${pos(text, 'image:')} info image-not-read images are not read here: dumps/guest.elf is not loaded, and ddr reads as zeros`,
      `${pos(text, 'image:', 1)} info image-not-read images are not read here: boot.bin is not loaded, and boot reads as zeros`,
    ]);
    assert.equal(read(cfg, 'ddr', 0n), 0n);
    assert.equal(read(cfg, 'ddr', 8n), 0x99n);
  });

  it('a file the hook cannot open, or a hook that throws: image-error at the file, never an exception', () => {
    const missing = loadConfig('m.iommu.yaml', text, { openImage: memoryHook({}) });
    assert.deepEqual(diags(missing), [
      `${pos(text, 'dumps/guest.elf')} error image-error cannot open dumps/guest.elf: no such file; ddr reads as zeros`,
      `${pos(text, 'boot.bin')} error image-error cannot open boot.bin: no such file; boot reads as zeros`,
    ]);
    const throwing = loadConfig('m.iommu.yaml', text, {
      openImage: () => {
        throw new Error('the workspace is not trusted');
      },
    });
    assert.deepEqual(diags(throwing), [
      `${pos(text, 'dumps/guest.elf')} error image-error cannot open dumps/guest.elf: the workspace is not trusted; ddr reads as zeros`,
      `${pos(text, 'boot.bin')} error image-error cannot open boot.bin: the workspace is not trusted; boot reads as zeros`,
    ]);
    assert.equal(read(throwing, 'ddr', 8n), 0x99n, 'the rest of the region is still built');
    const badSource = loadConfig('m.iommu.yaml', text, {
      openImage: () => ({
        size: 0x10000,
        readAt: () => {
          throw new Error('EIO');
        },
      }),
    });
    assert.deepEqual(diags(badSource), [
      `${pos(text, 'dumps/guest.elf')} error image-error dumps/guest.elf: reading 16 byte(s) at file offset 0x0 failed: EIO; ddr reads as zeros`,
      `${pos(text, 'image:', 1)} warning image-size boot.bin holds 0xfff0 bytes from offset 0x10, more than boot's 0x2000; the last 0xdff0 are not part of the region`,
    ]);
    assert.ok(isEngineError(ram(badSource, 'boot').backing.read(0n, 8)), 'a raw image reads lazily: the fault comes at the read');
  });

  it('malformed images: diagnostics at the file, the offset or the image key, with the file and the reason', () => {
    const notElf = new Uint8Array(0x100).fill(0x41);
    const cfg = loadConfig('m.iommu.yaml', text, { openImage: memoryHook({ 'dumps/guest.elf': notElf, 'boot.bin': pattern(8) }) });
    assert.deepEqual(diags(cfg), [
      `${pos(text, 'dumps/guest.elf')} error image-error dumps/guest.elf: not an ELF file (it starts with 41 41 41 41, not 7f 45 4c 46); for a plain memory image use \`format: raw\`; ddr reads as zeros`,
      `${pos(text, '0x10 }')} error image-error boot.bin: offset 0x10 is past the end of the file (0x8 bytes); boot reads as zeros`,
    ]);
    const big = loadConfig('m.iommu.yaml', text, { openImage: memoryHook({ 'dumps/guest.elf': core, 'boot.bin': pattern(0x3000) }) });
    assert.deepEqual(diags(big), [
      `${pos(text, 'image:', 1)} warning image-size boot.bin holds 0x2ff0 bytes from offset 0x10, more than boot's 0x2000; the last 0xff0 are not part of the region`,
    ]);
    const errorRange = big.diagnostics[0]!.range;
    assert.equal(errorRange.end.character - errorRange.start.character, 'image'.length, 'the range is the key');
    const overlapping = elfCoreBytes({ segments: [{ paddr: 0x8000_0000n, memsz: 0x2000n }, { paddr: 0x8000_1000n, memsz: 0x1000n }] });
    const ov = loadConfig('m.iommu.yaml', text, { openImage: memoryHook({ 'dumps/guest.elf': overlapping, 'boot.bin': pattern(0x100) }) });
    assert.deepEqual(diags(ov), [
      `${pos(text, 'dumps/guest.elf')} error image-error dumps/guest.elf: PT_LOAD segments overlap: program headers 1 (physical [0x80000000, 0x80001fff]) and 2 ([0x80001000, 0x80001fff]) both describe [0x80001000, 0x80001fff]; program header 2 is ignored`,
    ]);
    const fileRange = ov.diagnostics[0]!.range;
    assert.equal(fileRange.end.character - fileRange.start.character, 'dumps/guest.elf'.length, 'the range is the file value');
  });

  it('an elf-core region without an offset: a warning that says where the segments are', () => {
    const noOffset = text.replace(', offset: 0x8000_0000', '');
    const cfg = loadConfig('m.iommu.yaml', noOffset, { openImage: memoryHook({ 'dumps/guest.elf': core, 'boot.bin': pattern(0x100) }) });
    assert.deepEqual(diags(cfg), [
      `${pos(noOffset, 'image:')} warning image-size dumps/guest.elf: no PT_LOAD segment lies in ddr's physical range [0x0, 0xffff] (segments: [0x80000000, 0x80001fff], [0x80004000, 0x80004fff]); set image.offset to the physical address ddr starts at`,
      // What the dump does not hold cannot take initial contents either.
      `${pos(noOffset, '0x8,')} error address-range initial contents: ddr: no PT_LOAD segment of dumps/guest.elf holds physical address 0x8 (offset 0x8 in ddr); the dump does not contain it`,
    ]);
  });

  it('schema: the image keys are checked; a bad format or a missing file is reported once', () => {
    const bad = [
      'iommu-lens: 1',
      'memory:',
      '  a: { kind: ram, size: 4KiB, image: { file: x.bin, format: qcow2 } }',
      '  b: { kind: ram, size: 4KiB, image: { format: raw } }',
      '  c: { kind: ram, size: 4KiB, image: { file: x.bin, format: raw, offset: 12XB, colour: red } }',
      '',
    ].join('\n');
    const calls: Array<[string, string]> = [];
    const cfg = loadConfig('m.iommu.yaml', bad, { openImage: memoryHook({ 'x.bin': pattern(16) }, calls) });
    assert.deepEqual(calls, [], 'nothing is opened for an image the config gets wrong');
    const d = diags(cfg);
    assert.ok(d.some((l) => l.startsWith(`${pos(bad, 'qcow2')} error bad-value`)), d.join('\n'));
    assert.ok(d.some((l) => l.startsWith(`${pos(bad, 'image:', 1)} error missing-key`) || l.includes('missing the key "file"')), d.join('\n'));
    assert.ok(d.some((l) => l.startsWith(`${pos(bad, '12XB')} error bad-number`)), d.join('\n'));
    assert.ok(d.some((l) => l.startsWith(`${pos(bad, 'colour')} error unknown-key`)), d.join('\n'));
    const good = 'iommu-lens: 1\nmemory:\n  a: { kind: ram, size: 4KiB, image: { file: x.bin, format: elf-core, offset: 4GiB } }\n';
    assert.deepEqual(validateSchema(new ConfigDocument('g.iommu.yaml', good), { 'iommu-lens': 1, memory: { a: { kind: 'ram', size: '4KiB', image: { file: 'x.bin', format: 'elf-core', offset: '4GiB' } } } }), []);
  });
});

describe('config: contents as bytes', () => {
  it('a list of numbers or a string of hex pairs, written from `at`', () => {
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  r: { kind: ram, size: 4KiB, contents: [ { at: 0x10, bytes: [0x11, 0x22, 51, "0x44"] }, { at: 0xffc, bytes: "de ad_be ef" }, { at: 0x20, value: 0x1234, size: 2 } ] }',
      '',
    ].join('\n');
    const cfg = loadConfig('m.iommu.yaml', text);
    assert.deepEqual(diags(cfg), []);
    assert.equal(read(cfg, 'r', 0x10n, 4), 0x44332211n);
    assert.equal(read(cfg, 'r', 0xffcn, 4), 0xefbeadden);
    assert.equal(read(cfg, 'r', 0x20n, 2), 0x1234n);
  });

  it('bytes over an image land in the overlay', () => {
    const text = 'iommu-lens: 1\nmemory:\n  r: { kind: ram, size: 4KiB, image: { file: r.bin, format: raw }, contents: [ { at: 2, bytes: "ff ff" } ] }\n';
    const cfg = loadConfig('m.iommu.yaml', text, { openImage: memoryHook({ 'r.bin': pattern(16) }) });
    assert.deepEqual(diags(cfg), []);
    assert.equal(read(cfg, 'r', 0n, 8), 0x07060504ffff0100n);
  });

  it('problems: out of range, a byte too large, bad hex, value and bytes together, neither', () => {
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  r: { kind: ram, size: 4KiB, contents: [ { at: 0xffe, bytes: [1, 2, 3] }, { at: 0, bytes: [256] }, { at: 0, bytes: "abc" } ] }',
      '  s: { kind: ram, size: 4KiB, contents: [ { at: 0, value: 1, bytes: [1] }, { at: 8 } ] }',
      '',
    ].join('\n');
    const d = diags(loadConfig('m.iommu.yaml', text));
    assert.ok(d.includes(`${pos(text, '0xffe')} error address-range initial contents: 3 byte(s) at offset 0xffe run past the end of the region (0x1000 bytes)`), d.join('\n'));
    assert.ok(d.some((l) => l.startsWith(`${pos(text, '256')} error number-range`)), d.join('\n'));
    assert.ok(d.includes(`${pos(text, '"abc"')} error bad-value bytes as a string are pairs of hex digits, optionally separated by spaces or _ (such as "de ad be ef")`), d.join('\n'));
    assert.ok(d.includes(`${pos(text, 'bytes: [1]')} error entry-shape an initial-contents entry gives either "value" (with "size") or "bytes", not both`), d.join('\n'));
    assert.ok(d.includes(`${pos(text, '{ at: 8 }')} error missing-key an initial-contents entry needs "value" (a word at "at"), "bytes" (bytes from "at" on) or "fill" (with "size")`), d.join('\n'));
  });
});

describe('CLI: images are read from disk', () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-images-cli-'));
    fs.mkdirSync(path.join(tmp, 'dumps'));
    writeElfCore(path.join(tmp, 'dumps', 'guest.elf'), {
      segments: [{ paddr: 0x8000_0000n, memsz: 0x10_0000n, data: [{ at: 0x100n, bytes: le(0x5555_6666n, 4) }] }],
    });
    fs.writeFileSync(path.join(tmp, 'dumps', 'broken.elf'), new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function cli(args: string[]): { out: string[]; err: string[]; code: number } {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIO = { out: (l) => out.push(l), err: (l) => err.push(l), readFile: (p) => fs.readFileSync(p, 'utf8') };
    const code = runCli(args, io, { example: { file: 'x.iommu.yaml', text: 'iommu-lens: 1\n' }, version: '0.0.0-test' });
    return { out, err, code };
  }

  it('check and run load the image relative to the config', () => {
    const file = path.join(tmp, 'm.iommu.yaml');
    const text = [
      'iommu-lens: 1',
      'memory:',
      '  ddr: { kind: ram, size: 1MiB, image: { file: dumps/guest.elf, format: elf-core, offset: 0x8000_0000 } }',
      '  bad: { kind: ram, size: 1MiB, image: { file: dumps/broken.elf, format: elf-core } }',
      'address-spaces:',
      '  system: [ { at: 0x8000_0000, region: ddr } ]',
      'devices:',
      '  cpu: { as: system }',
      'scenario:',
      '  - expect: { from: cpu, addr: 0x8000_0100, op: read, size: 4, value: 0x5555_6666 }',
      '',
    ].join('\n');
    fs.writeFileSync(file, text);
    const c = cli(['check', file]);
    assert.deepEqual(c.out, [`${file}:${pos(text, 'dumps/broken.elf')}: error: dumps/broken.elf: the core is big-endian (ELFDATA2MSB); only little-endian cores are read; bad reads as zeros [image-error]`]);
    assert.equal(c.code, 1);
    const r = cli(['run', file]);
    assert.ok(r.out.some((l) => /expect cpu read 0x80000100 -> ddr\+0x100: ok$/.test(l)), r.out.join('\n'));
    assert.ok(!r.out.join('\n').includes('FAIL'), r.out.join('\n'));
    assert.equal(r.code, 0);
  });

  it('openImageFile is the hook the CLI passes', () => {
    const cfg = loadConfig(path.join(tmp, 'm.iommu.yaml'), fs.readFileSync(path.join(tmp, 'm.iommu.yaml'), 'utf8'), { openImage: openImageFile });
    assert.equal(read(cfg, 'ddr', 0x100n, 4), 0x5555_6666n);
  });
});

describe('layering: the config loader and src/node', () => {
  const imports = (src: string) => [...src.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => m[1]!);

  it('src/config imports nothing from src/node: file access is the caller\'s hook (the image parsers are in src/engine/images)', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'src', 'config'), { recursive: true }) as string[]) {
      if (!f.endsWith('.ts')) continue;
      const src = fs.readFileSync(path.join(ROOT, 'src', 'config', f), 'utf8');
      for (const s of imports(src)) assert.ok(!s.includes('/node/') && !s.startsWith('node:'), `src/config/${f} imports ${s}`);
    }
  });
});

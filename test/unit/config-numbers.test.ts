/**
 * Numbers in a device config: the forms parseConfigNumber accepts and refuses (with the code the
 * loader reports), and 64-bit values that must survive YAML and JSON, as strings and as bare
 * integers, all the way into the built Machine.
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import { parseConfigNumber, U64_LIMIT } from '../../src/config/numbers';
import { RamRegion, TableIommu } from '../../src/engine';

const MAX64 = 0xffffffffffffffffn;
const SIZE_LIMIT = U64_LIMIT + 1n;

function ok(v: unknown, max?: bigint): bigint {
  const r = parseConfigNumber(v, max);
  if (!r.ok) assert.fail(`${String(v)}: ${r.message}`);
  return r.value;
}

function refused(v: unknown, max?: bigint): { code: string; message: string } {
  const r = parseConfigNumber(v, max);
  if (r.ok) assert.fail(`${String(v)} was accepted as ${r.value}`);
  return { code: r.code, message: r.message };
}

describe('config numbers: parseConfigNumber', () => {
  const accepted: ReadonlyArray<[unknown, bigint]> = [
    [0, 0n],
    [4096, 4096n],
    [4096n, 4096n],
    [1e3, 1000n],
    ['4096', 4096n],
    ['4_096', 4096n],
    ['0x1000', 0x1000n],
    ['0X1000', 0x1000n],
    ['0xdead_beef', 0xdeadbeefn],
    ['0x1000_0000', 0x10000000n],
    ['0b1010', 10n],
    ['0b1_0000_0000', 256n],
    ['0o17', 15n],
    ['0o1_7', 15n],
    ['  0x10  ', 16n],
    ['007', 7n],
    ['1B', 1n],
    ['4KiB', 4096n],
    ['4 KiB', 4096n],
    ['0x10KiB', 16n * 1024n],
    ['1MiB', 1n << 20n],
    ['2GiB', 2n << 30n],
    ['3TiB', 3n << 40n],
    ['5PiB', 5n << 50n],
    ['15EiB', 15n << 60n],
    ['0xffff_ffff_ffff_ffff', MAX64],
    ['18446744073709551615', MAX64],
    [18446744073709551615n, MAX64],
  ];
  for (const [v, want] of accepted) {
    it(`reads ${typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`} as ${want}`, () => {
      assert.equal(ok(v), want);
    });
  }

  const refusals: ReadonlyArray<[unknown, string, string]> = [
    ['4KB', 'bad-number', '"KB" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)'],
    ['1MB', 'bad-number', '"MB" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)'],
    ['4 kb', 'bad-number', '"kb" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)'],
    ['4kib', 'bad-number', '"kib" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)'],
    ['1Kib', 'bad-number', '"Kib" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)'],
    ['-1', 'bad-number', '"-1" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['1.5', 'bad-number', '"1.5" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['', 'bad-number', '"" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0x', 'bad-number', '"0x" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0xg', 'bad-number', '"0xg" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0b', 'bad-number', '"0b" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0x_10', 'bad-number', '"0x_10" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['1__0', 'bad-number', '"1__0" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['10_', 'bad-number', '"10_" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0b102', 'bad-number', '"0b102" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    ['0o8', 'bad-number', '"0o8" is not a number (write 0x1000, 4096, 0x1000_0000 or 4KiB)'],
    [1.5, 'bad-number', '1.5 is not an integer'],
    [Number.NaN, 'bad-number', 'NaN is not an integer'],
    [Number.POSITIVE_INFINITY, 'bad-number', 'Infinity is not an integer'],
    [-1, 'number-range', '-1 is negative'],
    [-4096n, 'number-range', '-4096 is negative'],
    [U64_LIMIT, 'number-range', '18446744073709551616 does not fit in 64 bits'],
    [2 ** 64, 'number-range', '18446744073709551616 does not fit in 64 bits'],
    ['0x1_0000_0000_0000_0000', 'number-range', '0x1_0000_0000_0000_0000 does not fit in 64 bits'],
    ['18446744073709551616', 'number-range', '18446744073709551616 does not fit in 64 bits'],
    ['16EiB', 'number-range', '16EiB does not fit in 64 bits'],
    [true, 'wrong-type', 'expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got true'],
    [null, 'wrong-type', 'expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got nothing'],
    [[1], 'wrong-type', 'expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got a list'],
    [{ a: 1 }, 'wrong-type', 'expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got a mapping'],
  ];
  for (const [v, code, message] of refusals) {
    it(`refuses ${typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) ?? String(v)}`} (${code})`, () => {
      assert.deepEqual(refused(v), { code, message });
    });
  }

  it('accepts a size of exactly 2^64 when the limit is 2^64 + 1, and nothing above it', () => {
    assert.equal(ok('16EiB', SIZE_LIMIT), U64_LIMIT);
    assert.equal(ok(U64_LIMIT, SIZE_LIMIT), U64_LIMIT);
    assert.equal(ok('0x1_0000_0000_0000_0000', SIZE_LIMIT), U64_LIMIT);
    assert.deepEqual(refused(U64_LIMIT + 1n, SIZE_LIMIT), { code: 'number-range', message: '18446744073709551617 is too large (at most 0x10000000000000000)' });
  });

  it('names the width of a power-of-two limit', () => {
    assert.equal(ok(0xffffffffn, 1n << 32n), 0xffffffffn);
    assert.deepEqual(refused('0x1_0000_0000', 1n << 32n), { code: 'number-range', message: '0x1_0000_0000 does not fit in 32 bits' });
    assert.deepEqual(refused(0x10000, 1n << 16n), { code: 'number-range', message: '65536 does not fit in 16 bits' });
  });
});

describe('config numbers: 64-bit values through a loaded config', () => {
  const yaml = [
    'iommu-lens: 1',
    'memory:',
    '  ram0: { kind: ram, size: 4KiB, contents: [ { at: 0x8, value: 0xffff_ffff_ffff_ffff }, { at: 0x10, value: 18446744073709551615 } ] }',
    '  page: { kind: ram, size: 4KiB }',
    'iommus:',
    '  remap0:',
    '    model: table',
    '    size: 16EiB',
    '    indexes:',
    '      - name: all',
    '        mappings:',
    '          - { iova: 0xffff_ffff_ffff_f000, size: 4KiB, target: ram0, perm: rw }',
    'address-spaces:',
    '  system:',
    '    - { at: 0xffff_ffff_ffff_f000, region: page }',
    'notifiers:',
    '  quoted: { region: remap0, index: all, flags: [unmap], range: [0, "0xffff_ffff_ffff_ffff"] }',
    '  plain:  { region: remap0, index: all, flags: [unmap], range: [0, 0xffff_ffff_ffff_ffff] }',
    '  hex:    { region: remap0, index: all, flags: [unmap], range: [0, 0xffffffffffffffff] }',
    '  dec:    { region: remap0, index: all, flags: [unmap], range: [0, 18446744073709551615] }',
    '  first:  { region: remap0, index: all, flags: [unmap], range: [18446744073709551615, "0xffff_ffff_ffff_ffff"] }',
    '',
  ].join('\n');

  /** Bare 20-digit integers go in as placeholders, since JSON.stringify cannot write them. */
  const jsonWith = (decEnd: string) =>
    JSON.stringify(
      {
        'iommu-lens': 1,
        memory: { ram0: { kind: 'ram', size: '4KiB' }, page: { kind: 'ram', size: '4KiB' } },
        iommus: {
          remap0: { model: 'table', size: '16EiB', indexes: [{ name: 'all', mappings: [{ iova: '0xffff_ffff_ffff_f000', size: '4KiB', target: 'ram0', perm: 'rw' }] }] },
        },
        'address-spaces': { system: [{ at: '0xffff_ffff_ffff_f000', region: 'page' }] },
        notifiers: {
          quoted: { region: 'remap0', index: 'all', flags: ['unmap'], range: [0, '0xffff_ffff_ffff_ffff'] },
          dec: { region: 'remap0', index: 'all', flags: ['unmap'], range: [0, 'DEC_END'] },
          first: { region: 'remap0', index: 'all', flags: ['unmap'], range: ['DEC_START', '18446744073709551615'] },
        },
      },
      null,
      2,
    )
      .replace('"DEC_END"', decEnd)
      .replace('"DEC_START"', '18446744073709551615');
  const json = jsonWith('18446744073709551615');

  function registration(r: ReturnType<typeof loadConfig>, name: string) {
    const reg = r.machine.registrations.find((x) => x.name === name);
    assert.ok(reg, `no registration ${name}`);
    assert.equal(reg.status, 'accepted');
    return reg;
  }

  it('YAML: quoted, underscored, plain hex and decimal 2^64 - 1 all arrive as 0xffffffffffffffffn', () => {
    const r = loadConfig('u64.iommu.yaml', yaml);
    assert.deepEqual(r.diagnostics, []);
    for (const name of ['quoted', 'plain', 'hex', 'dec']) {
      const reg = registration(r, name);
      assert.equal(reg.start, 0n);
      assert.equal(reg.end, MAX64);
    }
    assert.equal(registration(r, 'first').start, MAX64);
    assert.equal(registration(r, 'first').end, MAX64);
  });

  it('JSON: a quoted string and a bare 20-digit integer both arrive as 0xffffffffffffffffn', () => {
    assert.match(json, /\[\s*0,\s*18446744073709551615\s*\]/);
    const r = loadConfig('u64.iommu.json', json);
    assert.deepEqual(r.diagnostics, []);
    for (const name of ['quoted', 'dec']) assert.equal(registration(r, name).end, MAX64);
    assert.equal(registration(r, 'first').start, MAX64);
    assert.equal(registration(r, 'first').end, MAX64);
  });

  for (const [what, file, text] of [
    ['YAML', 'u64.iommu.yaml', yaml],
    ['JSON', 'u64.iommu.json', json],
  ] as const) {
    it(`${what}: a region at the top page and a mapping of the last IOVA page are built exactly`, () => {
      const r = loadConfig(file, text);
      const top = r.machine.addressSpaces.get('system')!.flatView();
      assert.deepEqual(
        top.map((f) => [f.region.name, f.start, f.end]),
        [['page', 0xfffffffffffff000n, U64_LIMIT]],
      );
      const remap = r.machine.iommus.get('remap0');
      assert.ok(remap instanceof TableIommu);
      assert.equal(remap.region.size, U64_LIMIT);
      assert.deepEqual(
        remap.region.mappings(0).map((m) => [m.iova, m.size]),
        [[0xfffffffffffff000n, 0x1000n]],
      );
    });
  }

  it('YAML: 64-bit RAM contents written as underscored hex and as a decimal integer read back whole', () => {
    const r = loadConfig('u64.iommu.yaml', yaml);
    const ram = r.machine.regions.get('ram0');
    assert.ok(ram instanceof RamRegion);
    assert.equal(ram.backing.read(0x8n, 8), MAX64);
    assert.equal(ram.backing.read(0x10n, 8), MAX64);
  });

  it('2^64 as an address is refused where it is written, in YAML and in JSON', () => {
    const y = loadConfig('x.iommu.yaml', yaml.replace('range: [0, 18446744073709551615]', 'range: [0, 18446744073709551616]'));
    assert.deepEqual(
      y.diagnostics.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.code} ${d.message}`),
      ['20:68 number-range 18446744073709551616 does not fit in 64 bits'],
    );
    const j = loadConfig('x.iommu.json', jsonWith('18446744073709551616'));
    const at = jsonWith('18446744073709551616').split('\n').findIndex((l) => l.includes('18446744073709551616'));
    assert.deepEqual(
      j.diagnostics.map((d) => `${d.range.start.line}:${d.code} ${d.message}`),
      [`${at}:number-range 18446744073709551616 does not fit in 64 bits`],
    );
  });
});

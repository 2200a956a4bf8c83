/**
 * `rom: true` on a RAM region: QEMU's memory_region_init_rom. Its contents (from `contents` or an
 * image) read as RAM; a write through an address space fails with MEMTX_DECODE_ERROR and leaves
 * the bytes as they were; views name it `rom`, as `info mtree` does; anything but true or false
 * is a diagnostic at the value.
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import { MEMTXATTRS_UNSPECIFIED, MemTxResult, RamRegion, performAccess, regionKindName } from '../../src/engine';
import { hoverAt } from '../../src/views/editor';

const CONFIG = `iommu-lens: 1
memory:
  bios:
    kind: ram
    size: 64KiB
    rom: true
    contents:
      - { at: 0xfff0, value: 0x1234_5678, size: 4 }
  ram:
    kind: ram
    size: 64KiB
address-spaces:
  system:
    - { at: 0xf_0000, region: bios }
    - { at: 0, region: ram }
`;

describe('config: ROM regions (rom: true)', () => {
  const cfg = loadConfig('rom.iommu.yaml', CONFIG);
  const as = cfg.machine.addressSpaces.get('system')!;
  const access = (op: 'read' | 'write', addr: bigint) => performAccess({ as, addr, op, size: 4, value: 0xdead_beefn, attrs: MEMTXATTRS_UNSPECIFIED });

  it('loads without diagnostics, as a ROM beside plain RAM', () => {
    assert.deepEqual(cfg.diagnostics, []);
    const bios = cfg.machine.regions.get('bios');
    assert.ok(bios instanceof RamRegion && bios.rom);
    const ram = cfg.machine.regions.get('ram');
    assert.ok(ram instanceof RamRegion && !ram.rom);
  });

  it('reads its contents; a write is a decode error and changes nothing; RAM beside it takes writes', () => {
    assert.equal(access('read', 0xf_fff0n).value, 0x1234_5678n);
    const w = access('write', 0xf_fff0n);
    assert.equal(w.result, MemTxResult.DECODE_ERROR);
    assert.equal(access('read', 0xf_fff0n).value, 0x1234_5678n);
    assert.equal(access('write', 0x10n).result, MemTxResult.OK);
    assert.equal(access('read', 0x10n).value, 0xdead_beefn);
  });

  it('is named rom in views, as QEMU names it', () => {
    assert.equal(regionKindName(cfg.machine.regions.get('bios')!), 'rom');
    assert.equal(regionKindName(cfg.machine.regions.get('ram')!), 'ram');
    const hover = hoverAt(cfg, CONFIG.indexOf('bios:'));
    assert.ok(hover, 'a hover on the definition');
    assert.match(hover.lines[0]!, /^rom region \*\*bios\*\*, 64 KiB/);
  });

  it('reports a value that is not true or false at the value', () => {
    const bad = loadConfig('rom.iommu.yaml', CONFIG.replace('rom: true', 'rom: yes-please'));
    const d = bad.diagnostics.find((x) => x.code === 'wrong-type');
    assert.ok(d, bad.diagnostics.map((x) => `${x.code} ${x.message}`).join('; '));
    assert.equal(d.range.start.line, 5);
    const region = bad.machine.regions.get('bios');
    assert.ok(region instanceof RamRegion && !region.rom, 'a value that is not true leaves it RAM');
  });
});

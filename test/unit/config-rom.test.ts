/**
 * `rom: true` on a RAM region: QEMU's memory_region_init_rom. Its contents (from `contents` or an
 * image) read as RAM; a write through an address space fails with MEMTX_DECODE_ERROR and leaves
 * the bytes as they were; views name it `rom`, as `info mtree` does; anything but true or false
 * is a diagnostic at the value.
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load';
import { MEMTXATTRS_UNSPECIFIED, MemTxResult, RamRegion, performAccess, regionKindName, runScenario } from '../../src/engine';
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

/**
 * `romd: true`: a ROM device in ROMD mode (QEMU's memory_region_init_rom_device, a flash). It
 * reads as RAM; a write goes to the device's MMIO ops, which are not modelled: MEMTX_OK, nothing
 * written, and a scenario step that writes there says so. Not together with `rom`.
 */
describe('config: ROM devices (romd: true)', () => {
  const text = CONFIG.replace('rom: true', 'romd: true');
  const cfg = loadConfig('romd.iommu.yaml', text);
  const as = cfg.machine.addressSpaces.get('system')!;
  const access = (op: 'read' | 'write', addr: bigint) => performAccess({ as, addr, op, size: 4, value: 0xdead_beefn, attrs: MEMTXATTRS_UNSPECIFIED });

  it('loads without diagnostics; reads its contents; a write is accepted and changes nothing; named romd', () => {
    assert.deepEqual(cfg.diagnostics, []);
    const flash = cfg.machine.regions.get('bios');
    assert.ok(flash instanceof RamRegion && flash.romd && !flash.rom);
    assert.equal(access('read', 0xf_fff0n).value, 0x1234_5678n);
    assert.equal(access('write', 0xf_fff0n).result, MemTxResult.OK);
    assert.equal(access('read', 0xf_fff0n).value, 0x1234_5678n);
    assert.equal(regionKindName(flash), 'romd');
    assert.match(hoverAt(cfg, text.indexOf('bios:'))!.lines[0]!, /^romd region \*\*bios\*\*, 64 KiB/);
  });

  it("a scenario's DMA write and guest-memory write there say that nothing was written", () => {
    const run = loadConfig('romd.iommu.yaml', `${text}devices:\n  dma0: { as: system }\nscenario:\n  - access: { from: dma0, addr: 0xf_fff0, op: write, size: 4, value: 1 }\n  - write-mem: { as: system, addr: 0xf_fff0, value: 2, size: 4 }\n  - expect: { from: dma0, addr: 0xf_fff0, value: 0x1234_5678 }\n`);
    assert.deepEqual(run.diagnostics, []);
    const res = runScenario(run.machine, run.scenario);
    assert.deepEqual(res.steps.map((s) => s.failures ?? []), [[], [], []]);
    assert.match(res.steps[0]!.summary, /: MEMTX_OK, wrote 0x1 \(a ROM device's write goes to its MMIO ops, which the engine does not model: nothing is written\)$/);
    assert.match(res.steps[1]!.summary, /<- 0x2 \(4 bytes\) \(a ROM device's write goes to its MMIO ops, which the engine does not model: nothing is written\)$/);
  });

  it('rom and romd together: a diagnostic at romd, and the region is a ROM', () => {
    const both = loadConfig('romd.iommu.yaml', CONFIG.replace('rom: true', 'rom: true\n    romd: true'));
    assert.deepEqual(both.diagnostics.map((d) => `${d.range.start.line}:${d.code} ${d.message}`), ['6:entry-shape bios is a ROM ("rom") or a ROM device ("romd"), not both: a ROM refuses writes, a ROM device takes them']);
    const bios = both.machine.regions.get('bios');
    assert.ok(bios instanceof RamRegion && bios.rom && !bios.romd);
  });
});

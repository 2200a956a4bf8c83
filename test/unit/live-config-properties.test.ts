/**
 * The config an attach writes for whatever machine QEMU describes: random `info mtree -f` flat
 * views (sorted, non-overlapping ranges anywhere below 2^64, every type QEMU prints and some it
 * does not, names with any characters, `@offset`s) and random PCI devices (any qdev id, class
 * text and BDF) go through parseMtreeFlat and renderLiveConfig, and the text must load: no
 * internal error, no YAML problem, every range placed once at its address under a unique name,
 * and the region kinds as the range types say.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load';
import { parseMtreeFlat } from '../../src/config/mtree';
import { RamRegion, regionKindName } from '../../src/engine';
import { MemoryByteSource } from '../../src/engine/images/byte-source';
import { renderLiveConfig, type LiveState, type PciDevice } from '../../src/node/qemu/live';

const TYPES = ['ram', 'rom', 'romd', 'i/o', 'ram device', 'nv-ram', 'nv-rom', 'ramd', 'odd type'] as const;
const NAME_CHARS = fc.constantFrom(...'abcXYZ019_.-@:/ "\'#&*!{}[],|>%`?~é\\'.split(''));
const name = fc.string({ unit: NAME_CHARS, minLength: 1, maxLength: 24 });

/** Up to 12 ranges, sorted and apart: each a gap then a size, below 2^64. */
const ranges = fc.array(fc.record({ gap: fc.bigInt({ min: 0n, max: 1n << 60n }), size: fc.bigInt({ min: 1n, max: 1n << 40n }), type: fc.constantFrom(...TYPES), name, offset: fc.option(fc.bigInt({ min: 0n, max: 1n << 40n }), { nil: undefined }), prio: fc.integer({ min: -5, max: 5 }) }), { maxLength: 12 });

const pci: fc.Arbitrary<PciDevice[]> = fc.array(
  fc.record({
    bus: fc.integer({ min: 0, max: 255 }),
    slot: fc.integer({ min: 0, max: 31 }),
    function: fc.integer({ min: 0, max: 7 }),
    vendor: fc.integer({ min: 0, max: 0xffff }),
    device: fc.integer({ min: 0, max: 0xffff }),
    qdevId: fc.oneof(fc.constant(''), name),
    classDesc: fc.option(name, { nil: undefined }),
    bars: fc.constant([]),
  }),
  { maxLength: 5 },
);

const hex16 = (v: bigint) => v.toString(16).padStart(16, '0');

describe('attach: the config of any machine QEMU describes loads', () => {
  it('random flat views and PCI devices: no internal error, every range placed once under a unique name, kinds as the types say', () => {
    fc.assert(
      fc.property(ranges, pci, fc.boolean(), (rs, devices, withImages) => {
        const lines = ['FlatView #0', ' AS "memory", root: system', ' Root memory region: system'];
        let at = 0n;
        const placed: Array<{ start: bigint; end: bigint; type: string; name: string }> = [];
        for (const r of rs) {
          const start = at + r.gap;
          const end = start + r.size - 1n;
          if (end >= 1n << 64n) break;
          const shown = r.name.trim() || 'x';
          lines.push(`  ${hex16(start)}-${hex16(end)} (prio ${r.prio}, ${r.type}): ${shown}${r.offset !== undefined ? ` @${hex16(r.offset)}` : ''}`);
          placed.push({ start, end, type: r.type, name: shown });
          if (end === (1n << 64n) - 1n) break;
          at = end + 1n;
        }
        const mtreeText = lines.join('\n') + '\n';
        const mtree = parseMtreeFlat(mtreeText);
        assert.deepEqual(mtree.problems, []);
        const state: LiveState = { qemu: { major: 7, minor: 2, micro: 0 }, status: 'paused', wasRunning: false, mtreeText, mtree, pci: devices, iommus: [], notes: ['a note: with "quotes" and # a hash'] };
        // Images of 4 KiB: the rest of a larger region reads as a fault, as a short file does.
        const text = renderLiveConfig(state, (r) => (withImages ? { file: `img-${r.start.toString(16)}`, format: 'raw' } : undefined), ['header # with a hash']);
        const cfg = loadConfig('live.iommu.yaml', text, { openImage: (file) => new MemoryByteSource(new Uint8Array(4096), file) });
        const errors = cfg.diagnostics.filter((d) => d.severity === 'error');
        assert.deepEqual(errors.map((d) => `${d.code}: ${d.message}`), [], text);
        // Every range once, at its address, as RAM (ROM, ROM device) with an image, or a sink.
        const system = cfg.machine.addressSpaces.get('system')!;
        const names = new Set<string>();
        for (const p of placed) {
          const fr = system.lookup(p.start);
          assert.ok(fr, `nothing at 0x${p.start.toString(16)}`);
          assert.equal(fr.start, p.start);
          assert.ok(!names.has(fr.region.name), `${fr.region.name} twice`);
          names.add(fr.region.name);
          const memory = withImages && ['ram', 'nv-ram', 'rom', 'nv-rom', 'romd'].includes(p.type);
          assert.equal(fr.region instanceof RamRegion, memory, `${p.type} ${fr.region.name}`);
          assert.equal(regionKindName(fr.region), memory ? (p.type.endsWith('rom') ? 'rom' : p.type === 'romd' ? 'romd' : 'ram') : 'mmio');
        }
        assert.equal(cfg.machine.devices.size, devices.length + 1); // the PCI devices and the CPU
      }),
      { numRuns: 200 },
    );
  });
});

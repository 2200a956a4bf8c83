/**
 * A view never changes what it shows (issue 8, item 1): after every view model, hover, CodeLens,
 * mapping page, translation view and replay view has been asked about every example, the IOTLB,
 * the SMMU's configuration cache, the event queue, the registers and guest memory are exactly as
 * a fresh load of the same file has them.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { RamRegion, isEngineError, type MemoryRegion } from '../../src/engine';
import { Smmuv3 } from '../../src/engine/models/smmuv3';
import { codeLenses, hoverAt } from '../../src/views/editor';
import { configNode, notifierTree, type NodeModel } from '../../src/views/tree-model';
import { mappingPageView, regionViews, registrationViews, replayView, translationView } from '../../src/views/views';

const EXAMPLES = join(__dirname, '../../../examples');

/** Own fields of plain state (numbers, bigints, strings, arrays and plain objects of them). */
function plain(v: unknown, depth = 0): unknown {
  if (typeof v === 'bigint') return `${v.toString(16)}n`;
  if (v === null || typeof v !== 'object') return typeof v === 'function' ? undefined : v;
  if (depth > 4) return '…';
  if (ArrayBuffer.isView(v)) return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  if (v instanceof Map) return [...v.entries()].map(([k, x]) => [plain(k, depth + 1), plain(x, depth + 1)]);
  const proto = Object.getPrototypeOf(v) as object | null;
  // Objects of other classes are references to other parts (address spaces, the machine).
  if (depth > 0 && proto !== Object.prototype && proto !== null) return `[${proto.constructor.name}]`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const p = plain(x, depth + 1);
    if (p !== undefined) out[k] = p;
  }
  return out;
}

/** Every byte written to RAM (RAM reads as zero elsewhere), as `region+offset: bytes`. */
function ramState(regions: Iterable<MemoryRegion>): string[] {
  const out: string[] = [];
  for (const r of regions) {
    if (!(r instanceof RamRegion)) continue;
    const pages = (r.backing as unknown as { pages?: Map<number, DataView> }).pages;
    assert.ok(pages instanceof Map, `${r.name}: a sparse backing`);
    for (const [n, page] of [...pages.entries()].sort((a, b) => a[0] - b[0])) {
      out.push(`${r.name}+${n.toString(16)}: ${Buffer.from(page.buffer, page.byteOffset, page.byteLength).toString('hex')}`);
    }
  }
  return out;
}

function machineState(cfg: LoadedConfig): Record<string, unknown> {
  const m = cfg.machine;
  const out: Record<string, unknown> = { ram: ramState(m.regions.values()) };
  for (const [name, dev] of m.iommus) {
    const s: Record<string, unknown> = { registers: plain(dev.registers) };
    if (dev instanceof Smmuv3) {
      s.iotlb = [...(dev.iotlb as unknown as { maps: Map<string, { entries: Map<number, unknown> }> }).maps.entries()]
        .map(([k, map]) => [k, plain([...map.entries.entries()].sort((a, b) => a[0] - b[0]))])
        .filter(([, e]) => (e as unknown[]).length > 0);
      s.configCache = dev.regions().map((r) => [r.name, r.active === undefined ? 'empty' : plain(r.active.cfg)]);
      s.eventLog = plain(dev.eventLog);
      s.commandLog = plain(dev.commandLog);
    }
    s.regions = dev.regions().map((r) => r.name);
    out[`iommu:${name}`] = s;
  }
  out.registrations = m.registrations.map((r) => [r.name, r.received.length]);
  return out;
}

/** The parts that differ, each with its two values in short. */
function differences(now: Record<string, unknown>, was: Record<string, unknown>): string[] {
  const out: string[] = [];
  const cut = (x: unknown) => JSON.stringify(x).slice(0, 300);
  for (const [k, v] of Object.entries(was)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out.push(...differences(now[k] as Record<string, unknown>, v as Record<string, unknown>).map((d) => `${k}.${d}`));
    } else if (JSON.stringify(now[k]) !== JSON.stringify(v)) out.push(`${k}: ${cut(now[k])} (fresh: ${cut(v)})`);
  }
  return out;
}

/** Everything a user can open in the trees, pages of mappings included. */
function walk(nodes: readonly NodeModel[], depth = 0): number {
  let n = nodes.length;
  for (const x of nodes) if (x.children && depth < 8) n += walk(x.children(), depth + 1);
  return n;
}

function exerciseViews(cfg: LoadedConfig): void {
  const open = new Map<string, number>();
  walk([configNode(cfg, { pageSize: 5, pagesOpen: open }, cfg.file)]);
  walk(notifierTree(cfg));
  const regions = regionViews(cfg);
  const iovas: bigint[] = [0n, 0x1000n];
  for (const r of regions) {
    for (const ix of r.indexes) {
      let from: bigint | undefined;
      for (let page = 0; page < 4; page++) {
        const p = mappingPageView(r.region, ix.index, from, 3);
        for (const run of p.runs) iovas.push(run.iova, run.iova + run.size - 1n);
        if (p.next === undefined) break;
        from = p.next;
      }
    }
  }
  registrationViews(cfg);
  for (const r of cfg.machine.registrations) replayView(cfg, r.name);
  for (const d of cfg.machine.devices.keys()) {
    for (const addr of iovas) {
      translationView(cfg, { from: d, addr, op: 'read' });
      translationView(cfg, { from: d, addr, op: 'write' });
    }
  }
  for (const as of cfg.machine.addressSpaces.keys()) for (const addr of iovas) translationView(cfg, { from: as, addr });
  codeLenses(cfg);
  const text = cfg.document.text;
  for (let off = 0; off < text.length; off++) hoverAt(cfg, off);
}

describe('views: no view changes model state', () => {
  const files = readdirSync(EXAMPLES).filter((f) => /\.iommu\.(ya?ml|json)$/.test(f));
  it('has the examples to check', () => assert.ok(files.length >= 3, files.join(', ')));
  for (const f of files) {
    it(`${f}: IOTLB, config cache, event queue, registers and guest memory equal a fresh load's after every view`, () => {
      const text = readFileSync(join(EXAMPLES, f), 'utf8');
      const fresh = loadConfig(f, text);
      const used = loadConfig(f, text);
      const before = machineState(fresh);
      assert.deepEqual(differences(machineState(used), before), [], 'two fresh loads agree');
      exerciseViews(used);
      assert.deepEqual(differences(machineState(used), before), []);
    });
  }
});

describe('views: which replay QEMU runs', () => {
  const load = (f: string) => loadConfig(f, readFileSync(join(EXAMPLES, f), 'utf8'));
  it("SMMUv3: QEMU has no replay callback, so the default loop, whose events the engine's walk gives", () => {
    const cfg = load('virt-smmuv3.iommu.yaml');
    const v = replayView(cfg, 'net0/vhost');
    assert.ok(!isEngineError(v));
    assert.match(v.qemuReplay, /^QEMU runs the default replay: translate\(addr, IOMMU_NONE, 0\) .*; the engine walks the tables for the same events$/);
  });
  it("VT-d and virtio-iommu: QEMU runs the model's own replay", () => {
    for (const [f, model] of [['q35-intel-iommu.iommu.yaml', 'intel-iommu'], ['virtio-iommu.iommu.yaml', 'virtio-iommu']] as const) {
      const cfg = load(f);
      const reg = cfg.machine.registrations.find((r) => r.region.model === model);
      assert.ok(reg, `${f} has a registration on ${model}`);
      const v = replayView(cfg, reg.name);
      assert.ok(!isEngineError(v));
      assert.equal(v.qemuReplay, `QEMU runs ${model}'s own replay`);
    }
  });
});

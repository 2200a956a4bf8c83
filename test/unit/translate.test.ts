/**
 * A transaction crossing IOMMUs, as system/physmem.c's address_space_translate_iommu does it:
 * idx = attrs_to_index(attrs); entry = translate(addr, is_write ? WO : RO, idx); unassigned unless
 * perm & (1 << is_write); addr = (translated & ~mask) | (addr & mask); page_mask &= mask; on into
 * entry.target_as.
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  ContainerRegion,
  IOMMUMemoryRegion,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  MEMTXATTRS_UNSPECIFIED,
  MemTxResult,
  MmioRegion,
  RamRegion,
  TableIommu,
  addressSpaceForRegion,
  isEngineError,
  performAccess,
  translateAccess,
  type IOMMUAccessFlags,
  type IOMMUTLBEntry,
  type Trace,
  type TableIommuOptions,
} from '../../src/engine';

function table(opts: TableIommuOptions): TableIommu {
  const t = TableIommu.create(opts);
  if (isEngineError(t)) throw new Error(t.message);
  return t;
}

/**
 * dev-as: A (64 KiB pages) at 0 -> mid: B (4 KiB pages) at 0, sram at 0x200000 -> system: ddr at
 * 0x8000_0000, uart at 0x1000_0000.
 */
function machine() {
  const sysRoot = new ContainerRegion('sysmem', 1n << 32n);
  const ddr = new RamRegion('ddr', 0x10_0000n);
  const uart = new MmioRegion('uart', 0x1000n);
  sysRoot.addSubregion(ddr, 0x8000_0000n);
  sysRoot.addSubregion(uart, 0x1000_0000n);
  const system = new AddressSpace('system', sysRoot);

  const b = table({
    name: 'iommu-b',
    size: 0x10_0000n,
    indexes: [
      {
        name: 'only',
        mappings: [
          { iova: 0x21000n, size: 0x1000n, targetAs: system, target: 0x8000_5000n, perm: IOMMU_RO },
          { iova: 0x30000n, size: 0x2000n, targetAs: system, target: 0x8000_8000n, perm: IOMMU_RW },
          { iova: 0x40000n, size: 0x1000n, targetAs: system, target: 0x1000_0000n, perm: IOMMU_RW },
          { iova: 0x41000n, size: 0x1000n, targetAs: system, target: 0x8000_c000n, perm: IOMMU_WO },
          { iova: 0x60000n, size: 0x1000n, targetAs: system, target: 0x4000_0000n, perm: IOMMU_RW },
        ],
      },
    ],
  });
  const midRoot = new ContainerRegion('mid', 0x40_0000n);
  const sram = new RamRegion('sram', 0x10_0000n);
  midRoot.addSubregion(b.region, 0n);
  midRoot.addSubregion(sram, 0x20_0000n);
  const mid = new AddressSpace('mid', midRoot);

  const a = table({
    name: 'iommu-a',
    size: 0x100_0000n,
    minPageSize: 0x10000n,
    indexes: [
      {
        name: 'only',
        mappings: [
          { iova: 0x10000n, size: 0x10000n, targetAs: mid, target: 0x20000n, perm: IOMMU_RW },
          { iova: 0x30000n, size: 0x20000n, targetAs: mid, target: 0x30000n, perm: IOMMU_RW },
          { iova: 0x70000n, size: 0x10000n, targetAs: mid, target: 0x20_0000n, perm: IOMMU_RW },
          { iova: 0x80000n, size: 0x10000n, targetAs: mid, target: 0x20000n, perm: IOMMU_RO },
        ],
      },
    ],
  });
  const devRoot = new ContainerRegion('dev', 0x200_0000n);
  devRoot.addSubregion(a.region, 0n);
  const dev = new AddressSpace('dev-as', devRoot);

  // One IOMMU alone, placed at an offset.
  const oneRoot = new ContainerRegion('one', 0x20_0000n);
  oneRoot.addSubregion(b.region, 0x10_0000n);
  const one = new AddressSpace('one-as', oneRoot);
  return { system, ddr, uart, sram, a, b, mid, dev, one };
}

const U = MEMTXATTRS_UNSPECIFIED;

describe('translateAccess through one IOMMU', () => {
  it('composes (translated & ~mask) | (addr & mask) and lands in RAM at the right offset', () => {
    const m = machine();
    const l = translateAccess({ as: m.one, addr: 0x13_0abcn, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.OK);
    assert.equal(l.region, m.ddr);
    assert.equal(l.offset, 0x8abcn);
    assert.equal(l.as, m.system);
    assert.equal(l.addr, 0x8000_8abcn);
    assert.deepEqual(l.entry, { targetAs: m.system, iova: 0x13_0000n, translatedAddr: 0x8000_8000n, addrMask: 0xfffn, perm: IOMMU_RW });
    assert.equal(l.hops.length, 1);
    const h = l.hops[0]!;
    assert.equal(h.iommu, m.b.region);
    assert.equal(h.iommuIdx, 0);
    assert.equal(h.addr, 0x3_0abcn, 'the address inside the IOMMU region, not in the address space');
    assert.deepEqual(h.entry, { targetAs: m.system, iova: 0x30000n, translatedAddr: 0x8000_8000n, addrMask: 0xfffn, perm: IOMMU_RW });
    assert.equal(l.fault, undefined);
  });

  it('the second page of a mapping translates to the second page of its target', () => {
    const m = machine();
    const l = translateAccess({ as: m.one, addr: 0x13_1ff8n, op: 'write', attrs: U });
    assert.equal(l.addr, 0x8000_9ff8n);
    assert.equal(l.offset, 0x9ff8n);
  });

  it('perm & (1 << is_write): RO allows reads only, WO writes only, NONE neither', () => {
    const m = machine();
    const cases: Array<[bigint, 'read' | 'write', boolean]> = [
      [0x12_1000n, 'read', true],
      [0x12_1000n, 'write', false],
      [0x14_1000n, 'read', false],
      [0x14_1000n, 'write', true],
      [0x15_0000n, 'read', false],
      [0x15_0000n, 'write', false],
    ];
    for (const [addr, op, ok] of cases) {
      const l = translateAccess({ as: m.one, addr, op, attrs: U });
      if (ok) {
        assert.equal(l.result, MemTxResult.OK, `${op} at ${addr.toString(16)}`);
        assert.equal(l.fault, undefined);
      } else {
        assert.equal(l.result, MemTxResult.DECODE_ERROR, `${op} at ${addr.toString(16)}`);
        assert.equal(l.fault?.reason, 'permission');
        assert.equal(l.region, undefined);
        assert.equal(l.hops.length, 1, 'the refusing hop is still recorded');
      }
    }
  });

  it('an address the flat view does not map is a DECODE_ERROR with reason unassigned', () => {
    const m = machine();
    const l = translateAccess({ as: m.one, addr: 0x5_0000n, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.DECODE_ERROR);
    assert.equal(l.fault?.reason, 'unassigned');
    assert.equal(l.hops.length, 0);
    assert.equal(l.as, m.one);
    assert.equal(l.addr, 0x5_0000n);
  });

  it('a mapping into a hole of the target address space is unassigned there', () => {
    const m = machine();
    const l = translateAccess({ as: m.one, addr: 0x16_0010n, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.DECODE_ERROR);
    assert.equal(l.fault?.reason, 'unassigned');
    assert.equal(l.as, m.system);
    assert.equal(l.addr, 0x4000_0010n);
    assert.equal(l.hops.length, 1);
  });

  it('translates with the index that the attributes select, and asks RO/WO as the hint', () => {
    const m = machine();
    const flags: Array<[IOMMUAccessFlags, number]> = [];
    const t = table({
      name: 'two',
      size: 0x10000n,
      indexes: [
        { name: 'ns', mappings: [{ iova: 0n, size: 0x1000n, targetAs: m.system, target: 0x8000_1000n, perm: IOMMU_RW }] },
        { name: 's', match: { secure: true }, mappings: [{ iova: 0n, size: 0x1000n, targetAs: m.system, target: 0x8000_2000n, perm: IOMMU_RW }] },
      ],
    });
    const orig = t.region.translate.bind(t.region);
    t.region.translate = (addr, flag, idx, trace) => {
      flags.push([flag, idx]);
      return orig(addr, flag, idx, trace);
    };
    const as = addressSpaceForRegion(t.region);
    assert.equal(translateAccess({ as, addr: 0x10n, op: 'read', attrs: { secure: true } }).addr, 0x8000_2010n);
    assert.equal(translateAccess({ as, addr: 0x10n, op: 'write', attrs: { secure: false } }).addr, 0x8000_1010n);
    assert.equal(translateAccess({ as, addr: 0x10n, op: 'write', attrs: U }).addr, 0x8000_1010n);
    assert.deepEqual(flags, [
      [IOMMU_RO, 1],
      [IOMMU_WO, 0],
      [IOMMU_WO, 0],
    ]);
  });
});

describe('translateAccess with a model returning unaligned iova and translated_addr', () => {
  // SMMUv3 and virtio-iommu return iova = the input address; low bits of translated_addr beyond
  // the mask are dropped by the composition, never added.
  class Sloppy extends IOMMUMemoryRegion {
    readonly model = 'sloppy';
    constructor(private readonly target: AddressSpace) {
      super('sloppy', 0x10000n);
    }
    translate(addr: bigint): IOMMUTLBEntry {
      return { targetAs: this.target, iova: addr, translatedAddr: 0x8000_5abcn, addrMask: 0xfffn, perm: IOMMU_RW };
    }
  }

  it('composes (translated & ~mask) | (addr & mask)', () => {
    const m = machine();
    const as = addressSpaceForRegion(new Sloppy(m.system));
    const l = translateAccess({ as, addr: 0x7123n, op: 'read', attrs: U });
    assert.equal(l.addr, 0x8000_5123n);
    assert.equal(l.offset, 0x5123n);
    assert.deepEqual(l.entry, { targetAs: m.system, iova: 0x7000n, translatedAddr: 0x8000_5000n, addrMask: 0xfffn, perm: IOMMU_RW });
    assert.equal(l.hops[0]!.entry.iova, 0x7123n);
  });
});

describe('translateAccess through two nested IOMMUs', () => {
  it('composes the address hop by hop, ANDs the page masks (64 KiB then 4 KiB) and the perms', () => {
    const m = machine();
    const l = translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.OK);
    assert.equal(l.region, m.ddr);
    assert.equal(l.offset, 0x5234n);
    assert.equal(l.addr, 0x8000_5234n);
    assert.deepEqual(
      l.hops.map((h) => [h.iommu.name, h.addr, h.entry.iova, h.entry.translatedAddr, h.entry.addrMask, h.entry.perm]),
      [
        ['iommu-a', 0x1_1234n, 0x1_0000n, 0x2_0000n, 0xffffn, IOMMU_RW],
        ['iommu-b', 0x2_1234n, 0x2_1000n, 0x8000_5000n, 0xfffn, IOMMU_RO],
      ],
    );
    assert.deepEqual(l.entry, { targetAs: m.system, iova: 0x1_1000n, translatedAddr: 0x8000_5000n, addrMask: 0xfffn, perm: IOMMU_RO });
  });

  it('a write to the read-only second-level page fails with reason permission; the read is fine', () => {
    const m = machine();
    const w = translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'write', attrs: U });
    assert.equal(w.result, MemTxResult.DECODE_ERROR);
    assert.equal(w.fault?.reason, 'permission');
    assert.equal(w.hops.length, 2);
    assert.equal(w.hops[1]!.iommu.name, 'iommu-b');
    assert.equal(w.as, m.mid);
    assert.equal(w.addr, 0x2_1234n);
    // A write to a writable page of B through the same A mapping works.
    const ok = translateAccess({ as: m.dev, addr: 0x3_1008n, op: 'write', attrs: U });
    assert.equal(ok.result, MemTxResult.OK);
    assert.equal(ok.addr, 0x8000_9008n);
    // A read-only first level refuses the write before the second level is asked.
    const first = translateAccess({ as: m.dev, addr: 0x8_1234n, op: 'write', attrs: U });
    assert.equal(first.fault?.reason, 'permission');
    assert.equal(first.hops.length, 1);
    assert.equal(first.hops[0]!.iommu.name, 'iommu-a');
  });

  it('the mask stays 64 KiB when only the 64 KiB IOMMU is crossed', () => {
    const m = machine();
    const l = translateAccess({ as: m.dev, addr: 0x7_abcdn, op: 'write', attrs: U });
    assert.equal(l.region, m.sram);
    assert.equal(l.offset, 0xabcdn);
    assert.deepEqual(l.entry, { targetAs: m.mid, iova: 0x7_0000n, translatedAddr: 0x20_0000n, addrMask: 0xffffn, perm: IOMMU_RW });
  });

  it('an address outside the first IOMMU and its container is unassigned', () => {
    const m = machine();
    const l = translateAccess({ as: m.dev, addr: 0x180_0000n, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.DECODE_ERROR);
    assert.equal(l.fault?.reason, 'unassigned');
  });

  it('traces every step, in order, for a two-hop translation', () => {
    const m = machine();
    const trace: Trace = [];
    translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'read', attrs: U, trace });
    assert.deepEqual(
      trace.map((s) => s.kind),
      [
        'as-lookup', 'attrs-to-index', 'model', 'iotlb-entry', 'perm-check', 'compose', 'hop',
        'as-lookup', 'attrs-to-index', 'model', 'iotlb-entry', 'perm-check', 'compose', 'hop',
        'as-lookup', 'land',
      ],
    );
    const composes = trace.filter((s) => s.kind === 'compose').map((s) => [s.fields.output, s.fields.pageMask]);
    assert.deepEqual(composes, [
      [0x2_1234n, 0xffffn],
      [0x8000_5234n, 0xfffn],
    ]);
    const hops = trace.filter((s) => s.kind === 'hop').map((s) => [s.fields.from, s.fields.to]);
    assert.deepEqual(hops, [
      ['dev-as', 'mid'],
      ['mid', 'system'],
    ]);
    const land = trace.at(-1)!;
    assert.equal(land.fields.region, 'ddr');
    assert.equal(land.fields.offset, 0x5234n);
    for (const s of trace) assert.ok(s.summary.length > 0);
  });

  it('a refused access ends its trace with perm-check then fault', () => {
    const m = machine();
    const trace: Trace = [];
    translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'write', attrs: U, trace });
    assert.deepEqual(trace.slice(-3).map((s) => s.kind), ['iotlb-entry', 'perm-check', 'fault']);
    assert.equal(trace.at(-2)!.fields.allowed, false);
    assert.equal(trace.at(-1)!.fields.reason, 'permission');
  });

  it('without a trace argument no step is built: models get no trace and nothing trace-like is pushed', () => {
    const m = machine();
    const given: unknown[] = [];
    for (const t of [m.a, m.b]) {
      const orig = t.region.translate.bind(t.region);
      t.region.translate = (addr, flag, idx, trace) => {
        given.push(trace);
        return orig(addr, flag, idx, trace);
      };
    }
    const proto = Array.prototype as { push: (...items: unknown[]) => number };
    const realPush = proto.push;
    let stepLike = 0;
    proto.push = function (this: unknown[], ...items: unknown[]) {
      for (const it of items) {
        if (typeof it === 'object' && it !== null && 'kind' in it && 'summary' in it) stepLike++;
      }
      return realPush.apply(this, items);
    };
    let ok: boolean;
    let bad: boolean;
    try {
      ok = translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'read', attrs: U }).result === MemTxResult.OK;
      bad = translateAccess({ as: m.dev, addr: 0x1_1234n, op: 'write', attrs: U }).result === MemTxResult.DECODE_ERROR;
    } finally {
      proto.push = realPush;
    }
    assert.ok(ok && bad);
    assert.equal(stepLike, 0);
    assert.deepEqual(given, [undefined, undefined, undefined, undefined]);
  });

  it('stops an IOMMU whose target is itself after the hop limit', () => {
    const loop = table({ name: 'loop', size: 0x10000n, indexes: [{ name: 'only' }] });
    const self = addressSpaceForRegion(loop.region);
    assert.equal(loop.region.load(0, { iova: 0n, size: 0x10000n, targetAs: self, target: 0n, perm: IOMMU_RW }), undefined);
    const l = translateAccess({ as: self, addr: 0x1234n, op: 'read', attrs: U });
    assert.equal(l.result, MemTxResult.DECODE_ERROR);
    assert.equal(l.fault?.reason, 'hop-limit');
    assert.equal(l.hops.length, 16);
    assert.ok(l.hops.every((h) => h.addr === 0x1234n));
  });
});

describe('performAccess', () => {
  it('writes RAM through two IOMMUs and reads back what was written', () => {
    const m = machine();
    const w = performAccess({ as: m.dev, addr: 0x3_0010n, op: 'write', attrs: U, size: 8, value: 0x0123_4567_89ab_cdefn });
    assert.equal(w.result, MemTxResult.OK);
    assert.equal(w.landing.region, m.ddr);
    assert.equal(w.landing.offset, 0x8010n);
    assert.equal(m.ddr.backing.read(0x8010n, 8), 0x0123_4567_89ab_cdefn);
    const r = performAccess({ as: m.dev, addr: 0x3_0014n, op: 'read', attrs: U, size: 4 });
    assert.equal(r.result, MemTxResult.OK);
    assert.equal(r.value, 0x0123_4567n);
    // The same RAM seen directly in system memory.
    const direct = performAccess({ as: m.system, addr: 0x8000_8010n, op: 'read', attrs: U, size: 2 });
    assert.equal(direct.value, 0xcdefn);
  });

  it('records MMIO accesses to a sink in its log (reads return 0)', () => {
    const m = machine();
    const attrs = { secure: true, requesterId: 0x10 };
    const w = performAccess({ as: m.dev, addr: 0x4_0004n, op: 'write', attrs, size: 4, value: 0x41n });
    assert.equal(w.result, MemTxResult.OK);
    assert.equal(w.landing.region, m.uart);
    const r = performAccess({ as: m.dev, addr: 0x4_0008n, op: 'read', attrs, size: 1 });
    assert.equal(r.result, MemTxResult.OK);
    assert.equal(r.value, 0n);
    assert.deepEqual(m.uart.log, [
      { op: 'write', offset: 4n, size: 4, value: 0x41n, attrs },
      { op: 'read', offset: 8n, size: 1, value: 0n, attrs },
    ]);
  });

  it('an access running past the end of its region is an access-past-end error, not an exception', () => {
    const m = machine();
    const r = performAccess({ as: m.system, addr: 0x800f_fffen, op: 'read', attrs: U, size: 4 });
    assert.equal(r.result, MemTxResult.DECODE_ERROR);
    assert.equal(r.value, 0n);
    assert.equal(r.error?.code, 'access-past-end');
    const ok = performAccess({ as: m.system, addr: 0x800f_fffcn, op: 'read', attrs: U, size: 4 });
    assert.equal(ok.result, MemTxResult.OK);
    assert.equal(ok.error, undefined);
    const mmio = performAccess({ as: m.system, addr: 0x1000_0ffcn, op: 'write', attrs: U, size: 8, value: 1n });
    assert.equal(mmio.error?.code, 'access-past-end');
    assert.equal(m.uart.log.length, 0, 'the refused access never reached the device');
  });

  it('a faulting translation performs nothing and reads 0', () => {
    const m = machine();
    const before = m.ddr.backing.read(0x5000n, 4);
    const w = performAccess({ as: m.dev, addr: 0x1_1000n, op: 'write', attrs: U, size: 4, value: 0xffn });
    assert.equal(w.result, MemTxResult.DECODE_ERROR);
    assert.equal(w.landing.fault?.reason, 'permission');
    assert.equal(m.ddr.backing.read(0x5000n, 4), before);
  });
});

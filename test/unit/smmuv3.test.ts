/**
 * The SMMUv3 model against QEMU's hw/arm/smmuv3.c and smmu-common.c and the architecture:
 * registers, the disabled SMMU, stream regions, stage-1 walks at every granule and start level
 * over hand-made tables, blocks, TTB1, stage 2 with concatenated tables, nesting, 2-level stream
 * tables, and translation through the memory system.
 */
import * as assert from 'node:assert/strict';
import { addressSpaceForRegion } from '../../src/engine/address-space';
import { MEMTXATTRS_UNSPECIFIED, MemTxResult } from '../../src/engine/attrs';
import { fmtRaw } from '../../src/engine/format';
import { HWADDR_MAX } from '../../src/engine/hex';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { translateAccess } from '../../src/engine/translate';
import type { Trace } from '../../src/engine/trace';
import { buildSmmuTables } from '../../src/engine/models/smmuv3';
import {
  CD_ADDR,
  RAM_BASE,
  STRTAB,
  TABLES,
  TG0,
  alloc,
  build,
  enable,
  levelShift,
  mapOne,
  program,
  reg,
  rig,
  s1Leaf,
  s2Leaf,
  summaries,
  tr,
  w64,
  writeCd,
  writeSte,
} from './smmuv3-helpers';

const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;

describe('smmuv3: registers', () => {
  it('reports the features the model implements in IDR0-5 (architecture profile)', () => {
    const r = rig();
    // S2P, S1P, TTF=AArch64, COHACC, ASID16, VMID16, TTENDIAN=LE, STALL_MODEL=1, TERM_MODEL, STLEVEL=2-level
    assert.equal(reg(r, 'IDR0'), BigInt((1 | 2 | (2 << 2) | (1 << 4) | (1 << 12) | (1 << 18) | (2 << 21) | (1 << 24) | (1 << 26) | (1 << 27)) >>> 0));
    assert.equal(reg(r, 'IDR1'), BigInt(16 | (19 << 16) | (19 << 21))); // SIDSIZE 16, EVENTQS/CMDQS 19
    assert.equal(reg(r, 'IDR3'), BigInt((1 << 2) | (1 << 10))); // HAD, RIL
    assert.equal(reg(r, 'IDR5'), BigInt(5 | (1 << 4) | (1 << 5) | (1 << 6))); // OAS 48, 4K 16K 64K
    assert.equal(reg(r, 'AIDR'), 1n);
    assert.equal(reg(r, 'PIDR0'), 0x84n);
  });

  it('reports QEMU 7.2 exactly: every ID and read-only register as smmuv3_init_regs sets it, no GBPA register', () => {
    const r = rig({ profile: 'qemu-7.2' });
    // Read from Debian's qemu-system-aarch64 7.2 (virt,iommu=smmuv3, qtest readl at 0x09050000 + offset).
    const qemu: Array<[string, bigint]> = [
      ['IDR0', 0x0d40101an], // S1P, TTF=2, COHACC, ASID16, TTENDIAN=2, STALL_MODEL=1, TERM_MODEL, STLEVEL
      ['IDR1', 0x02730010n], // SIDSIZE 16, EVENTQS 19, CMDQS 19
      ['IDR2', 0n],
      ['IDR3', 0x1404n], // HAD, RIL, BBML 2
      ['IDR4', 0n],
      ['IDR5', 0x74n], // OAS 44 bits, GRAN4K, GRAN16K, GRAN64K
      ['IIDR', 0n],
      ['AIDR', 1n],
      ['CR0ACK', 0n],
      ['STATUSR', 0n],
      ['IRQ_CTRL_ACK', 0n],
      ['GERROR', 0n],
      ['CMDQ_BASE', 0x13n],
      ['EVENTQ_BASE', 0x13n],
      ['PIDR4', 0x04n],
      ['PIDR5', 0n],
      ['PIDR6', 0n],
      ['PIDR7', 0n],
      ['PIDR0', 0x84n],
      ['PIDR1', 0xb4n],
      ['PIDR2', 0xf0n],
      ['PIDR3', 0x10n],
      ['CIDR0', 0x0dn],
      ['CIDR1', 0xf0n],
      ['CIDR2', 0x05n],
      ['CIDR3', 0xb1n],
    ];
    for (const [name, value] of qemu) {
      assert.equal(reg(r, name), value, name);
      const info = r.smmu.regs.registers.find((x) => x.name === name)!;
      assert.equal(info.reset, value, `${name} reset`);
    }
    // The same values through page 1 (an alias of page 0).
    assert.equal(r.smmu.regs.read(0x1000cn, 4, MEMTXATTRS_UNSPECIFIED).value, 0x1404n);
    assert.equal(r.smmu.regs.registers.find((x) => x.name === 'GBPA'), undefined);
    // GBPA reads as zero and ignores writes.
    assert.equal(r.smmu.regs.read(0x44n, 4, MEMTXATTRS_UNSPECIFIED).value, 0n);
    r.smmu.regs.write(0x44n, 4, 0x8010_0000n, MEMTXATTRS_UNSPECIFIED);
    assert.equal(r.smmu.regs.read(0x44n, 4, MEMTXATTRS_UNSPECIFIED).value, 0n);
    assert.equal(r.smmu.regionFor(0).size, 1n << 48n);
  });

  it('QEMU 7.2 keeps EVENTQ_IRQ_CFG0-2 writes but reads them as zero; the architecture reads them back', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      const r = rig({ profile });
      r.smmu.regs.write(0xb0n, 8, 0x1234n, MEMTXATTRS_UNSPECIFIED);
      r.smmu.regs.write(0xb8n, 4, 0x55n, MEMTXATTRS_UNSPECIFIED);
      r.smmu.regs.write(0xbcn, 4, 0x3n, MEMTXATTRS_UNSPECIFIED);
      const got = [r.smmu.regs.read(0xb0n, 8, MEMTXATTRS_UNSPECIFIED).value, r.smmu.regs.read(0xb0n, 4, MEMTXATTRS_UNSPECIFIED).value, r.smmu.regs.read(0xb8n, 4, MEMTXATTRS_UNSPECIFIED).value, r.smmu.regs.read(0xbcn, 4, MEMTXATTRS_UNSPECIFIED).value];
      assert.deepEqual(got, profile === 'qemu-7.2' ? [0n, 0n, 0n, 0n] : [0x1234n, 0x1234n, 0x55n, 0x3n], profile);
      assert.equal(r.smmu.regs.eventqIrqCfg0, 0x1234n);
    }
  });

  it('CR0ACK follows CR0 without the reserved bits; CR1/CR2 hold what is written', () => {
    const r = rig();
    program(r, [{ reg: 'CR0', value: 0xffff_ffffn }]);
    assert.equal(reg(r, 'CR0'), 0xffff_ffffn);
    assert.equal(reg(r, 'CR0ACK'), BigInt((0xffffffff & ~0xfffffc20) >>> 0));
    program(r, [{ reg: 'CR1', value: 0x55n }, { reg: 'CR2', value: 0x7n }]);
    assert.equal(reg(r, 'CR1'), 0x55n);
    assert.equal(reg(r, 'CR2'), 0x7n);
  });

  it('GBPA: a write without UPDATE is ignored, with UPDATE it takes effect and UPDATE reads 0', () => {
    const r = rig();
    assert.equal(reg(r, 'GBPA'), 0x1000n);
    r.smmu.regs.write(0x44n, 4, 0x0010_0000n, MEMTXATTRS_UNSPECIFIED);
    assert.equal(reg(r, 'GBPA'), 0x1000n);
    r.smmu.regs.write(0x44n, 4, 0x8010_0000n, MEMTXATTRS_UNSPECIFIED);
    assert.equal(reg(r, 'GBPA'), 0x0010_0000n);
  });

  it('64-bit registers take 8-byte and 4-byte halves; other 64-bit accesses are RAZ/WI; 1- and 2-byte accesses never reach it', () => {
    const r = rig();
    const A = MEMTXATTRS_UNSPECIFIED;
    assert.equal(r.smmu.regs.write(0x80n, 8, 0x1234_5678_9abc_def0n, A), MemTxResult.OK);
    assert.equal(r.smmu.regs.read(0x80n, 4, A).value, 0x9abc_def0n);
    assert.equal(r.smmu.regs.read(0x84n, 4, A).value, 0x1234_5678n);
    r.smmu.regs.write(0x84n, 4, 0xffn, A);
    assert.equal(r.smmu.regs.read(0x80n, 8, A).value, 0x0000_00ff_9abc_def0n);
    // CMDQ_BASE LOG2SIZE is capped at CMDQS (19).
    r.smmu.regs.write(0x90n, 8, 0x8000_0000n | 0x1fn, A);
    assert.equal(r.smmu.regs.cmdq.log2size, 19);
    // A 64-bit write to a 32-bit register is ignored (QEMU: "Unexpected 64-bit access").
    r.smmu.regs.write(0x28n, 8, 0xffn, A);
    assert.equal(reg(r, 'CR1'), 0n);
    assert.equal(r.smmu.regs.read(0x28n, 8, A).value, 0n);
    assert.match(r.smmu.log.at(-1)!, /Unexpected 64-bit access to 0x28 \(RAZ\)/);
    assert.equal(r.smmu.regs.read(0x20n, 2, A).result, MemTxResult.DECODE_ERROR);
    assert.equal(r.smmu.regs.write(0x22n, 4, 0n, A), MemTxResult.DECODE_ERROR);
    // Page 1 aliases page 0 (QEMU's CONSTRAINED UNPREDICTABLE choice).
    r.smmu.regs.write(0x100a8n, 4, 5n, A);
    assert.equal(reg(r, 'EVENTQ_PROD'), 5n);
  });

  it('the register block is an MMIO region of 0x20000 bytes', () => {
    const r = rig();
    assert.equal(r.smmu.registerRegion.size, 0x20000n);
    assert.equal(r.smmu.registerRegion.name, 'smmu0-regs');
  });
});

describe('smmuv3: regions and the disabled SMMU', () => {
  it('creates one region per stream on demand, named after the SID, 2^64 bytes, one index, 4 KiB pages', () => {
    const r = rig();
    assert.deepEqual(r.smmu.regions(), []);
    const a = r.smmu.regionFor(0x10);
    assert.equal(a.name, 'smmu0.sid-0x10');
    assert.equal(a.size, 1n << 64n);
    assert.equal(a.numIndexes(), 1);
    assert.equal(a.minPageSize(), 4096n);
    assert.equal(a.model, 'smmuv3');
    assert.equal(r.smmu.regionFor(0x10), a);
    r.smmu.regionFor(0x18);
    assert.deepEqual(r.smmu.regions().map((x) => x.name), ['smmu0.sid-0x10', 'smmu0.sid-0x18']);
    assert.equal(r.smmu.regionFor(undefined).sid, 0);
  });

  it('SMMUEN=0 bypasses: identity, perm = the requested flag, 4 KiB mask', () => {
    const r = rig();
    const e = tr(r, 0x10, 0x1234_5678n, IOMMU_WO);
    assert.equal(e.iova, 0x1234_5678n);
    assert.equal(e.translatedAddr, 0x1234_5678n);
    assert.equal(e.addrMask, 0xfffn);
    assert.equal(e.perm, IOMMU_WO);
    assert.equal(e.targetAs, r.sys);
    assert.equal(tr(r, 0x10, 0n, IOMMU_NONE).perm, IOMMU_NONE);
  });

  it('SMMUEN=0 with GBPA.ABORT aborts (perm NONE, no event); QEMU 7.2 ignores GBPA', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      const r = rig({ profile });
      r.smmu.regs.write(0x44n, 4, 0x8010_0000n, MEMTXATTRS_UNSPECIFIED);
      const t: Trace = [];
      const e = tr(r, 0x10, 0x1000n, IOMMU_RO, t);
      if (profile === 'architecture') {
        assert.equal(e.perm, IOMMU_NONE);
        assert.equal(e.addrMask, HWADDR_MAX);
        assert.match(t.at(-1)!.summary, /GBPA.ABORT=1: the transaction is aborted/);
      } else {
        assert.equal(e.perm, IOMMU_RO);
        assert.match(t.at(-1)!.summary, /QEMU 7.2 has no GBPA/);
      }
      assert.equal(r.smmu.eventLog.length, 0);
    }
  });
});

/**
 * One stage-1 page through hand-made tables for every granule and start level the input sizes
 * allow: the descriptors read, the translated address and the mask are exact.
 */
describe('smmuv3: stage-1 walks at every granule and start level', () => {
  const cases: Array<{ g: 12 | 14 | 16; tsz: number; start: number }> = [
    { g: 12, tsz: 16, start: 0 },
    { g: 12, tsz: 25, start: 1 },
    { g: 12, tsz: 34, start: 2 },
    { g: 14, tsz: 16, start: 0 },
    { g: 14, tsz: 20, start: 1 },
    { g: 14, tsz: 30, start: 2 },
    { g: 14, tsz: 39, start: 3 },
    { g: 16, tsz: 16, start: 1 },
    { g: 16, tsz: 25, start: 2 },
    { g: 16, tsz: 39, start: 3 },
  ];
  for (const c of cases) {
    it(`${2 ** (c.g - 10)} KiB granule, T0SZ=${c.tsz}: start level ${c.start}`, () => {
      const r = rig();
      enable(r);
      const gsz = 1n << BigInt(c.g);
      const root = alloc(r, gsz);
      writeCd(r, { t0sz: c.tsz, tg0: TG0[c.g], ttb0: root });
      writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
      // An IOVA near the top of the input range, so that every level's index is non-zero.
      const inputBits = 64 - c.tsz;
      const iova = (1n << BigInt(inputBits)) - 5n * gsz + 0x123n;
      const pa = 0x9000_0000n + 7n * gsz;
      const path = mapOne(r, root, c.g, c.start, iova, s1Leaf(pa, 3), 3);
      assert.equal(path.length, 4 - c.start);
      const t: Trace = [];
      const e = tr(r, 0x10, iova, IOMMU_RO, t);
      assert.equal(e.perm, IOMMU_RW);
      assert.equal(e.iova, iova, 'iova is the input address, unaligned');
      assert.equal(e.translatedAddr, pa + 0x123n);
      assert.equal(e.addrMask, gsz - 1n);
      const reads = t.filter((s) => s.kind === 'descriptor-read' && s.fields.stage === 1);
      assert.deepEqual(
        reads.map((s) => s.fields.address),
        path,
      );
      assert.deepEqual(reads.map((s) => s.fields.level), path.map((_, i) => c.start + i));
      assert.equal(reads.at(-1)!.source?.kind, 'guest-memory');
      // Through the memory system, from the device's DMA address space.
      const dma = addressSpaceForRegion(r.smmu.regionFor(0x10));
      const land = translateAccess({ as: dma, addr: iova, op: 'write', attrs: MEMTXATTRS_UNSPECIFIED });
      assert.equal(land.result, MemTxResult.OK);
      assert.equal(land.region, r.ram);
      assert.equal(land.offset, pa + 0x123n - RAM_BASE);
    });
  }
});

describe('smmuv3: blocks', () => {
  const allowed: Array<{ g: 12 | 14 | 16; tsz: number; start: number; level: number }> = [
    { g: 12, tsz: 16, start: 0, level: 1 },
    { g: 12, tsz: 16, start: 0, level: 2 },
    { g: 14, tsz: 16, start: 0, level: 2 },
    { g: 16, tsz: 16, start: 1, level: 2 },
  ];
  for (const c of allowed) {
    const size = 1n << BigInt(levelShift(c.level, c.g));
    it(`${2 ** (c.g - 10)} KiB granule, a level-${c.level} block maps ${size / MiB} MiB`, () => {
      const r = rig();
      enable(r);
      const root = alloc(r, 1n << BigInt(c.g));
      writeCd(r, { t0sz: c.tsz, tg0: TG0[c.g], ttb0: root });
      writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
      const iova = 3n * size;
      const pa = 0x1_0000_0000n + 2n * size; // output beyond the RAM: only the translation is checked
      mapOne(r, root, c.g, c.start, iova, s1Leaf(pa, c.level, { ro: true }), c.level);
      const e = tr(r, 0x10, iova + size - 8n, IOMMU_RO);
      assert.equal(e.perm, IOMMU_RO);
      assert.equal(e.addrMask, size - 1n);
      assert.equal(e.translatedAddr, pa + size - 8n);
    });
  }

  const forbidden: Array<{ g: 12 | 14 | 16; tsz: number; start: number; level: number }> = [
    { g: 12, tsz: 16, start: 0, level: 0 },
    { g: 14, tsz: 16, start: 0, level: 1 },
    { g: 16, tsz: 16, start: 1, level: 1 },
  ];
  for (const c of forbidden) {
    it(`${2 ** (c.g - 10)} KiB granule, a level-${c.level} block is F_TRANSLATION; QEMU 7.2 uses it as a block`, () => {
      for (const profile of ['architecture', 'qemu-7.2'] as const) {
        const r = rig({ profile });
        enable(r);
        const root = alloc(r, 1n << BigInt(c.g));
        writeCd(r, { t0sz: c.tsz, tg0: TG0[c.g], ttb0: root });
        writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
        const size = 1n << BigInt(levelShift(c.level, c.g));
        mapOne(r, root, c.g, c.start, 0n, s1Leaf(0n, c.level), c.level);
        const t: Trace = [];
        const e = tr(r, 0x10, 0x5000n, IOMMU_RO, t);
        if (profile === 'architecture') {
          assert.equal(e.perm, IOMMU_NONE);
          assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x10);
        } else {
          assert.equal(e.perm, IOMMU_RW);
          assert.equal(e.addrMask, size - 1n);
          assert.equal(e.translatedAddr, 0x5000n);
          assert.ok(t.some((s) => s.summary.startsWith('QEMU 7.2 would translate this; the architecture raises F_TRANSLATION')));
        }
      }
    });
  }
});

describe('smmuv3: TTB1', () => {
  function ttb1Rig(profile: 'architecture' | 'qemu-7.2' = 'architecture') {
    const r = rig({ profile });
    enable(r);
    const root0 = alloc(r, 4096n);
    const root1 = alloc(r, 4096n);
    // TTB0: 39-bit (T0SZ 25), TTB1: 48-bit (T1SZ 16), both 4K (TG1=2 is 4K).
    writeCd(r, { t0sz: 25, tg0: 0, ttb0: root0, t1sz: 16, tg1: 2, ttb1: root1 });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    mapOne(r, root0, 12, 1, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    // TTB1's table is indexed by the low 48 bits.
    mapOne(r, root1, 12, 0, 0xffff_ffff_f000n, s1Leaf(0x8050_0000n, 3), 3);
    mapOne(r, root1, 12, 0, 0x80_0000_1000n, s1Leaf(0x8060_0000n, 3), 3);
    return r;
  }

  it('selects TTB1 for addresses whose top T1SZ bits are ones, TTB0 for zeros, faults in the gap', () => {
    const r = ttb1Rig();
    assert.equal(tr(r, 0x10, 0x1008n, IOMMU_RO).translatedAddr, 0x8040_0008n);
    const e = tr(r, 0x10, 0xffff_ffff_ffff_f010n, IOMMU_RO);
    assert.equal(e.translatedAddr, 0x8050_0010n);
    assert.equal(e.iova, 0xffff_ffff_ffff_f010n);
    // Just above TTB0's 39-bit range: neither table.
    const g = tr(r, 0x10, 0x80_0000_1000n, IOMMU_RO);
    assert.equal(g.perm, IOMMU_NONE);
    const ev = r.smmu.eventLog.at(-1)!;
    assert.equal(ev.event.type, 0x10);
    assert.equal(ev.event.addr, 0x80_0000_1000n);
  });

  it('QEMU 7.2 selects TTB1 for addresses just above TTB0 that are zero above T1SZ (observation 5)', () => {
    const r = ttb1Rig('qemu-7.2');
    const t: Trace = [];
    const e = tr(r, 0x10, 0x80_0000_1000n, IOMMU_RO, t);
    assert.equal(e.translatedAddr, 0x8060_0000n);
    assert.ok(summaries(t).some((s) => /QEMU 7.2 selects TTB1/.test(s)));
  });
});

describe('smmuv3: the 16 KiB granule under qemu-7.2 (QEMU 7.2 decode_cd checks TTB0 and TTB1, 4K/16K/64K)', () => {
  // QEMU 7.2 tg2granule: TG0 0/1/2 = 4K/64K/16K, TG1 1/2/3 = 16K/4K/64K.
  const TG1 = { 12: 2, 14: 1, 16: 3 } as const;
  const combos: Array<[12 | 14 | 16, 12 | 14 | 16]> = [
    [14, 12],
    [12, 14],
    [14, 14],
    [16, 14],
  ];
  for (const [g0, g1] of combos) {
    it(`TTB0 ${2 ** (g0 - 10)}K (T0SZ 25) with TTB1 ${2 ** (g1 - 10)}K (T1SZ 16): both translate, no C_BAD_CD`, () => {
      for (const profile of ['architecture', 'qemu-7.2'] as const) {
        const r = rig({ profile });
        enable(r);
        const root0 = alloc(r, 1n << BigInt(g0));
        const root1 = alloc(r, 1n << BigInt(g1));
        writeCd(r, { t0sz: 25, tg0: TG0[g0], ttb0: root0, t1sz: 16, tg1: TG1[g1], ttb1: root1 });
        writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
        const start0 = 4 - Math.floor((39 - 4) / (g0 - 3));
        const start1 = 4 - Math.floor((48 - 4) / (g1 - 3));
        mapOne(r, root0, g0, start0, 0x1_0000n, s1Leaf(0x8040_0000n, 3), 3);
        // TTB1's table is indexed by the low 48 bits: under the architecture the address has
        // its top 16 bits set, under QEMU 7.2 (observation 5) they are zero above T1SZ.
        const ia1 = 0x80_0001_0000n;
        mapOne(r, root1, g1, start1, ia1, s1Leaf(0x8050_0000n, 3), 3);
        const e0 = tr(r, 0x10, 0x1_0010n, IOMMU_RO);
        assert.equal(e0.perm, IOMMU_RW, `${profile} TTB0`);
        assert.equal(e0.translatedAddr, 0x8040_0010n, `${profile} TTB0`);
        assert.equal(e0.addrMask, (1n << BigInt(g0)) - 1n);
        const a1 = profile === 'architecture' ? 0xffff_0000_0000_0000n | ia1 : ia1;
        const e1 = tr(r, 0x10, a1 + 0x20n, IOMMU_WO);
        assert.equal(e1.perm, IOMMU_RW, `${profile} TTB1`);
        assert.equal(e1.translatedAddr, 0x8050_0020n, `${profile} TTB1`);
        assert.equal(e1.addrMask, (1n << BigInt(g1)) - 1n);
        assert.equal(r.smmu.eventLog.length, 0, profile);
      }
    });
  }

  it('a 16K TTB0 alone (TTB1 disabled by EPD1) translates under qemu-7.2 at every level: 48-bit input starts at level 0', () => {
    const r = rig({ profile: 'qemu-7.2' });
    enable(r);
    const root = alloc(r, 16n * KiB);
    writeCd(r, { t0sz: 16, tg0: TG0[14], ttb0: root });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    const path = mapOne(r, root, 14, 0, 0x8000_0000_4000n, s1Leaf(0x8060_0000n, 3, { ro: true }), 3);
    assert.equal(path.length, 4);
    const t: Trace = [];
    const e = tr(r, 0x10, 0x8000_0000_4008n, IOMMU_RO, t);
    assert.equal(e.perm, IOMMU_RO);
    assert.equal(e.translatedAddr, 0x8060_0008n);
    assert.equal(e.addrMask, 0x3fffn);
    assert.deepEqual(
      t.filter((s) => s.kind === 'descriptor-read' && s.fields.stage !== undefined).map((s) => s.fields.address).slice(-4),
      path,
    );
  });

  it('a bad TT1 makes the whole CD bad under qemu-7.2, so TTB0 accesses fail too (C_BAD_CD); EPD1 skips TT1', () => {
    for (const epd1 of [false, true]) {
      const r = rig({ profile: 'qemu-7.2' });
      enable(r);
      const root0 = alloc(r, 4096n);
      // TG1 = 0 selects no granule for TT1.
      writeCd(r, { t0sz: 25, tg0: 0, ttb0: root0, t1sz: 16, tg1: 0, ttb1: TABLES, epd1 });
      writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
      mapOne(r, root0, 12, 1, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
      const e = tr(r, 0x10, 0x1000n, IOMMU_RO);
      if (epd1) {
        assert.equal(e.translatedAddr, 0x8040_0000n);
        assert.equal(r.smmu.eventLog.length, 0);
      } else {
        assert.equal(e.perm, IOMMU_NONE);
        assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x0a);
      }
    }
  });
});

describe('smmuv3: pointer field widths under qemu-7.2 (smmuv3-internal.h)', () => {
  it('CD_TTB drops TTB bit 51; STE_CTXPTR drops bits [51:48]: both named in the trace', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      const r = rig({ profile });
      enable(r);
      const root = alloc(r, 4096n);
      writeCd(r, { t0sz: 16, ttb0: root | (1n << 51n) });
      writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR | (1n << 48n) });
      mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
      const t: Trace = [];
      const e = tr(r, 0x10, 0x1000n, IOMMU_RO, t);
      if (profile === 'architecture') {
        // The CD pointer is beyond memory: F_CD_FETCH.
        assert.equal(e.perm, IOMMU_NONE);
        assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x09);
      } else {
        assert.equal(e.translatedAddr, 0x8040_0000n);
        assert.ok(summaries(t).some((s) => s.includes('QEMU 7.2 reads S1ContextPtr as')));
        assert.ok(summaries(t).some((s) => s.includes('QEMU 7.2 reads TTB0 as')));
      }
    }
  });
});

describe('smmuv3: stage 2 and nesting', () => {
  it('stage 2 alone: 4K, S2T0SZ=24 (40-bit IPA), S2SL0=1 with two concatenated level-1 tables; S2AP decides', () => {
    const r = rig();
    enable(r);
    // 2 concatenated tables: 8 KiB, aligned to 8 KiB.
    const root = alloc(r, 8192n);
    writeSte(r, 0x20, { config: 0b110, vmid: 7, s2t0sz: 24, s2sl0: 1, s2tg: 0, s2ttb: root });
    // IPA 0x80_4000_2000 is in the second concatenated table (bit 39 set).
    const ipa = 0x80_4000_2000n;
    const path = mapOne(r, root, 12, 1, ipa, s2Leaf(0x8030_0000n, 3, IOMMU_RO), 3);
    assert.equal(path[0], root + 4096n + 1n * 8n);
    const t: Trace = [];
    const e = tr(r, 0x20, ipa + 0x10n, IOMMU_RO, t);
    assert.equal(e.perm, IOMMU_RO);
    assert.equal(e.translatedAddr, 0x8030_0010n);
    assert.deepEqual(
      t.filter((s) => s.kind === 'descriptor-read' && s.fields.stage === 2).map((s) => s.fields.address),
      path,
    );
    // A write: S2AP=RO refuses it, stage-2 permission fault with the IPA.
    const w = tr(r, 0x20, ipa + 0x10n, IOMMU_WO);
    assert.equal(w.perm, IOMMU_NONE);
    const ev = r.smmu.eventLog.at(-1)!.event;
    assert.equal(ev.type, 0x13);
    assert.equal(ev.s2, true);
    assert.equal(ev.addr2, ipa + 0x10n);
    // An IPA beyond 40 bits is a stage-2 translation fault.
    tr(r, 0x20, 1n << 40n, IOMMU_RO);
    assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x10);
    assert.equal(r.smmu.eventLog.at(-1)!.event.s2, true);
  });

  it('stage 2 with 64K and 16K granules', () => {
    for (const [g, tg, tsz, sl0, start] of [
      [16, 1, 22, 1, 2],
      [14, 2, 28, 1, 2],
    ] as const) {
      const r = rig();
      enable(r);
      const root = alloc(r, 1n << BigInt(g));
      writeSte(r, 0x20, { config: 0b110, s2t0sz: tsz, s2sl0: sl0, s2tg: tg, s2ttb: root });
      const ipa = 0x12_3456_0000n & ((1n << BigInt(64 - tsz)) - 1n) & ~((1n << BigInt(g)) - 1n);
      mapOne(r, root, g, start, ipa, s2Leaf(0x8070_0000n, 3, IOMMU_RW), 3);
      const e = tr(r, 0x20, ipa + 4n, IOMMU_RO);
      assert.equal(e.translatedAddr, 0x8070_0004n, `granule ${g}`);
      assert.equal(e.addrMask, (1n << BigInt(g)) - 1n);
    }
  });

  it('nested (builder): the result is stage 2 of stage 1, mask the smaller, perms ANDed; stage-1 tables are read through stage 2', () => {
    const r = rig();
    const res = build(r, {
      streams: new Map([
        [
          0x30,
          {
            stage1: { granule: 4096, t0sz: 16, asid: 3, map: [{ iova: 0x4000_0000n, size: 2n * MiB, pa: 0x20_0000_0000n, perm: IOMMU_RW }] },
            stage2: {
              granule: 4096,
              t0sz: 16,
              vmid: 9,
              map: [{ iova: 0x20_0000_0000n, size: 2n * MiB, pa: 0x9000_0000n, perm: IOMMU_RO }],
            },
          },
        ],
      ]),
    });
    assert.ok(!('error' in res));
    const t: Trace = [];
    const e = tr(r, 0x30, 0x4000_1234n, IOMMU_RO, t);
    assert.equal(e.translatedAddr, 0x9000_1234n);
    assert.equal(e.addrMask, 2n * MiB - 1n);
    assert.equal(e.perm, IOMMU_RO);
    const s2Reads = t.filter((s) => s.kind === 'descriptor-read' && s.fields.stage === 2).length;
    assert.ok(s2Reads >= 4, 'the CD, TTB and table IPAs and the output IPA go through stage 2');
    assert.ok(summaries(t).some((s) => /TTB IPA/.test(s)));
    // A write: stage 1 allows it, stage 2 does not.
    tr(r, 0x30, 0x4000_1234n, IOMMU_WO);
    const ev = r.smmu.eventLog.at(-1)!.event;
    assert.equal(ev.type, 0x13);
    assert.equal(ev.s2, true);
  });

  it('nested: a stage-1 table whose IPA stage 2 does not map is a stage-2 F_TRANSLATION of class TT with the table IPA', () => {
    const r = rig();
    enable(r);
    const s2root = alloc(r, 4096n);
    const s1root = alloc(r, 4096n);
    writeSte(r, 0x30, { config: 0b111, cd: CD_ADDR, vmid: 1, s2t0sz: 16, s2sl0: 2, s2ttb: s2root });
    writeCd(r, { t0sz: 16, ttb0: s1root });
    // Stage 2 maps the CD and the TTB page 1:1, but not the next-level table.
    for (const p of [CD_ADDR & ~0xfffn, s1root]) mapOne(r, s2root, 12, 0, p, s2Leaf(p, 3, IOMMU_RO), 3);
    w64(r, s1root, 0x7000_0000n | 3n);
    tr(r, 0x30, 0x1000n, IOMMU_RO);
    const ev = r.smmu.eventLog.at(-1)!.event;
    assert.equal(ev.type, 0x10);
    assert.equal(ev.s2, true);
    assert.equal(ev.cls, 1);
    assert.equal(ev.addr2, 0x7000_0000n);
    assert.equal(ev.addr, 0x1000n);
  });

  it('rejects stage-2 configs the architecture calls illegal (C_BAD_STE)', () => {
    const bad: Array<[string, Parameters<typeof writeSte>[2]]> = [
      ['S2TG=3', { config: 0b110, s2t0sz: 24, s2sl0: 1, s2tg: 3 }],
      ['S2SL0=3', { config: 0b110, s2t0sz: 24, s2sl0: 3 }],
      ['S2T0SZ=40', { config: 0b110, s2t0sz: 40, s2sl0: 0 }],
      ['more than 16 concatenated tables', { config: 0b110, s2t0sz: 16, s2sl0: 0 }],
      ['a start level that resolves no bits', { config: 0b110, s2t0sz: 33, s2sl0: 2 }],
      ['S2AA64=0', { config: 0b110, s2t0sz: 24, s2sl0: 1, s2aa64: false }],
      ['reserved Config', { config: 0b010 }],
    ];
    for (const [what, ste] of bad) {
      const r = rig();
      enable(r);
      writeSte(r, 0x20, ste);
      assert.equal(tr(r, 0x20, 0n, IOMMU_RO).perm, IOMMU_NONE, what);
      assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x04, what);
    }
  });

  it('QEMU 7.2 has no stage 2 (C_BAD_STE) and aborts reserved Configs', () => {
    const r = rig({ profile: 'qemu-7.2' });
    enable(r);
    writeSte(r, 0x20, { config: 0b110, s2t0sz: 24, s2sl0: 1 });
    tr(r, 0x20, 0n, IOMMU_RO);
    assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x04);
    writeSte(r, 0x21, { config: 0b010 });
    const n = r.smmu.eventLog.length;
    assert.equal(tr(r, 0x21, 0n, IOMMU_RO).perm, IOMMU_NONE);
    assert.equal(r.smmu.eventLog.length, n, 'abort records no event');
  });
});

describe('smmuv3: stream tables', () => {
  it('abort and bypass STEs', () => {
    const r = rig();
    enable(r);
    writeSte(r, 1, { config: 0b000 });
    writeSte(r, 2, { config: 0b100 });
    const a = tr(r, 1, 0x1000n, IOMMU_RO);
    assert.equal(a.perm, IOMMU_NONE);
    const b = tr(r, 2, 0x1234n, IOMMU_RW);
    assert.equal(b.perm, IOMMU_RW);
    assert.equal(b.translatedAddr, 0x1234n);
    assert.equal(b.addrMask, 0xfffn);
    assert.equal(r.smmu.eventLog.length, 0);
  });

  it('2-level (builder): SIDs in separate L2 tables; a SID without an L2 table is C_BAD_STREAMID', () => {
    const r = rig();
    // Different ASIDs: streams sharing an ASID (and VMID) share IOTLB entries, as on QEMU.
    const m = (pa: bigint, asid: number) => ({ stage1: { granule: 4096, t0sz: 16, asid, map: [{ iova: 0x1000n, size: 4096n, pa, perm: IOMMU_RW }] } });
    build(r, { twoLevel: { split: 6 }, streams: new Map([[0x0005, m(0x8100_0000n, 1)], [0x0105, m(0x8200_0000n, 2)]]) });
    assert.equal(reg(r, 'STRTAB_BASE_CFG'), (1n << 16n) | (6n << 6n) | 9n);
    assert.equal(tr(r, 0x0005, 0x1010n, IOMMU_RO).translatedAddr, 0x8100_0010n);
    assert.equal(tr(r, 0x0105, 0x1010n, IOMMU_RO).translatedAddr, 0x8200_0010n);
    assert.equal(tr(r, 0x00c5, 0x1010n, IOMMU_RO).perm, IOMMU_NONE);
    assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x02);
    // Beyond LOG2SIZE.
    tr(r, 0x0205, 0n, IOMMU_RO);
    assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x02);
  });

  it('2-level: an L2 index beyond 2^(Span-1) STEs is C_BAD_STREAMID; QEMU 7.2 reads it (observation 3)', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      const r = rig({ profile });
      program(r, [
        { reg: 'STRTAB_BASE', value: STRTAB },
        { reg: 'STRTAB_BASE_CFG', value: (1n << 16n) | (4n << 6n) | 8n },
        { reg: 'EVENTQ_BASE', value: (RAM_BASE + 0x2_0000n) | 4n },
        { reg: 'CR0', value: 0x5n },
      ]);
      const l2 = RAM_BASE + 0x8000n;
      w64(r, STRTAB, l2 | 4n); // Span 4: the architecture allows 8 STEs
      writeSte(r, 9, { config: 0b100 }, l2);
      const e = tr(r, 9, 0x1000n, IOMMU_RO);
      if (profile === 'architecture') {
        assert.equal(e.perm, IOMMU_NONE);
        assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x02);
      } else {
        assert.equal(e.perm, IOMMU_RO);
      }
    }
  });

  it('2-level: QEMU 7.2 reads L1STD.L2Ptr from bit 5 (l1std_l2ptr), the architecture from bit 6; the trace names it', () => {
    for (const profile of ['architecture', 'qemu-7.2'] as const) {
      const r = rig({ profile });
      program(r, [
        { reg: 'STRTAB_BASE', value: STRTAB },
        { reg: 'STRTAB_BASE_CFG', value: (1n << 16n) | (4n << 6n) | 8n },
        { reg: 'EVENTQ_BASE', value: (RAM_BASE + 0x2_0000n) | 4n },
        { reg: 'CR0', value: 0x5n },
      ]);
      const l2 = RAM_BASE + 0x8000n;
      // L2Ptr with bit 5 set: the architecture's L2 table is at l2, QEMU 7.2's 32 bytes further.
      w64(r, STRTAB, l2 | 0x20n | 5n);
      writeSte(r, 1, { config: 0b100 }, l2); // at l2 + 64: bypass
      writeSte(r, 1, { config: 0b000 }, l2 + 0x20n); // at l2 + 0x60: abort
      const t: Trace = [];
      const e = tr(r, 1, 0x1000n, IOMMU_RO, t);
      if (profile === 'architecture') {
        assert.equal(e.perm, IOMMU_RO);
      } else {
        assert.equal(e.perm, IOMMU_NONE);
        assert.ok(summaries(t).some((x) => x.includes(`QEMU 7.2 reads L2Ptr as 0x${(l2 + 0x20n).toString(16)}`)));
      }
    }
  });

  it('CD checks: V, AA64, T0SZ range, ENDI, TTB beyond IPS, in TT0 or TT1 (C_BAD_CD)', () => {
    const cases: Array<[string, Parameters<typeof writeCd>[1], 'architecture' | 'qemu-7.2']> = [
      ['V=0', { t0sz: 16, ttb0: TABLES, valid: false }, 'architecture'],
      ['AA64=0', { t0sz: 16, ttb0: TABLES, aa64: false }, 'architecture'],
      ['T0SZ=40', { t0sz: 40, ttb0: TABLES }, 'architecture'],
      ['T0SZ=15', { t0sz: 15, ttb0: TABLES }, 'architecture'],
      ['ENDI', { t0sz: 16, ttb0: TABLES, endi: true }, 'architecture'],
      ['TTB beyond IPS', { t0sz: 16, ttb0: 1n << 40n, ips: 2 }, 'architecture'],
      ['T1SZ=40 on 7.2', { t0sz: 16, ttb0: TABLES, t1sz: 40, tg1: 2, ttb1: TABLES }, 'qemu-7.2'],
      ['TTB1 beyond the 44-bit OAS on 7.2', { t0sz: 16, ttb0: TABLES, t1sz: 16, tg1: 1, ttb1: 1n << 44n }, 'qemu-7.2'],
      ['TG1=0 on 7.2', { t0sz: 16, ttb0: TABLES, t1sz: 16, tg1: 0, ttb1: TABLES }, 'qemu-7.2'],
    ];
    for (const [what, cd, profile] of cases) {
      const r = rig({ profile });
      enable(r);
      writeCd(r, cd);
      writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
      assert.equal(tr(r, 0x10, 0n, IOMMU_RO).perm, IOMMU_NONE, what);
      assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x0a, what);
    }
  });
});

describe('smmuv3: permissions and the access flag', () => {
  function pageRig(profile: 'architecture' | 'qemu-7.2', leaf: bigint, cd: Partial<Parameters<typeof writeCd>[1]> = {}) {
    const r = rig({ profile });
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root, ...cd });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    mapOne(r, root, 12, 0, 0x1000n, leaf, 3);
    return r;
  }

  it('AP[2]=1 gives RO and refuses writes (F_PERMISSION)', () => {
    const r = pageRig('architecture', s1Leaf(0x8040_0000n, 3, { ro: true }));
    assert.equal(tr(r, 0x10, 0x1000n, IOMMU_NONE).perm, IOMMU_RO);
    assert.equal(tr(r, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_RO);
    assert.equal(tr(r, 0x10, 0x1000n, IOMMU_WO).perm, IOMMU_NONE);
    assert.equal(r.smmu.eventLog.at(-1)!.event.type, 0x13);
  });

  it('AF=0 is F_ACCESS, before the permission check; CD.AFFD turns it off; QEMU 7.2 translates (observation 1)', () => {
    const a = pageRig('architecture', s1Leaf(0x8040_0000n, 3, { ro: true, af: false }));
    tr(a, 0x10, 0x1000n, IOMMU_WO);
    assert.equal(a.smmu.eventLog.at(-1)!.event.type, 0x12);
    const affd = pageRig('architecture', s1Leaf(0x8040_0000n, 3, { af: false }), { affd: true });
    assert.equal(tr(affd, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_RW);
    const q = pageRig('qemu-7.2', s1Leaf(0x8040_0000n, 3, { ro: true, af: false }));
    const t: Trace = [];
    assert.equal(tr(q, 0x10, 0x1000n, IOMMU_RO, t).perm, IOMMU_RO);
    assert.ok(summaries(t).some((s) => s.includes('QEMU 7.2 would translate this; the architecture raises F_ACCESS')));
    // A write to a read-only AF=0 page: F_PERMISSION on QEMU 7.2, not F_ACCESS.
    tr(q, 0x10, 0x1000n, IOMMU_WO);
    assert.equal(q.smmu.eventLog.at(-1)!.event.type, 0x13);
  });

  it('APTable[1] makes the subtree read-only (folded into the permissions, unless CD.HAD0)', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root });
    writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    const path = mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    // APTable = 0b10 in the level-0 table descriptor (bits 62:61).
    const cur = r.ram.backing.read(path[0]! - RAM_BASE, 8) as bigint;
    w64(r, path[0]!, cur | (2n << 61n));
    assert.equal(tr(r, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_RO);
    const r2 = rig();
    enable(r2);
    const root2 = alloc(r2, 4096n);
    writeCd(r2, { t0sz: 16, ttb0: root2, had0: true });
    writeSte(r2, 0x10, { config: 0b101, cd: CD_ADDR });
    const p2 = mapOne(r2, root2, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    w64(r2, p2[0]!, (r2.ram.backing.read(p2[0]! - RAM_BASE, 8) as bigint) | (2n << 61n));
    assert.equal(tr(r2, 0x10, 0x1000n, IOMMU_RO).perm, IOMMU_RW);
  });

  it('an output address beyond CD.IPS is F_ADDR_SIZE; QEMU 7.2 has no such check', () => {
    const a = pageRig('architecture', s1Leaf(0x100_0000_0000n, 3), { ips: 2 });
    tr(a, 0x10, 0x1000n, IOMMU_RO);
    assert.equal(a.smmu.eventLog.at(-1)!.event.type, 0x11);
    const q = pageRig('qemu-7.2', s1Leaf(0x100_0000_0000n, 3), { ips: 2 });
    assert.equal(tr(q, 0x10, 0x1000n, IOMMU_RO).translatedAddr, 0x100_0000_0000n);
  });
});

describe('smmuv3: traces', () => {
  it('names every STE, CD and descriptor read with its guest address and raw value, and the IOTLB outcome', () => {
    const r = rig();
    enable(r);
    const root = alloc(r, 4096n);
    writeCd(r, { t0sz: 16, ttb0: root, asid: 5 });
    const steAt = writeSte(r, 0x10, { config: 0b101, cd: CD_ADDR });
    mapOne(r, root, 12, 0, 0x1000n, s1Leaf(0x8040_0000n, 3), 3);
    const t: Trace = [];
    tr(r, 0x10, 0x1000n, IOMMU_RO, t);
    const reads = t.filter((s) => s.kind === 'descriptor-read');
    assert.equal(reads.length, 6);
    assert.equal(reads[0]!.source?.kind === 'guest-memory' && reads[0]!.source.addr, steAt);
    assert.equal(reads[1]!.source?.kind === 'guest-memory' && reads[1]!.source.addr, CD_ADDR);
    assert.equal(reads[5]!.source?.kind === 'guest-memory' && reads[5]!.source.value, s1Leaf(0x8040_0000n, 3));
    assert.equal(reads[5]!.fields.descriptor, fmtRaw(s1Leaf(0x8040_0000n, 3)));
    assert.equal(reads[5]!.fields.type, 'page');
    // In the architecture's words: the step names and the descriptor's fields.
    assert.deepEqual(
      reads.map((s) => s.name),
      ['STE fetch', 'CD fetch', 'stage-1 level-0 descriptor', 'stage-1 level-1 descriptor', 'stage-1 level-2 descriptor', 'stage-1 level-3 descriptor'],
    );
    assert.equal(reads[5]!.fields['output address'], 0x8040_0000n);
    assert.equal(reads[5]!.fields.AF, 1);
    for (const k of ['AttrIndx', 'NS', 'AP[2:1]', 'SH', 'nG', 'Contiguous', 'PXN', 'UXN/XN', 'DBM']) assert.ok(k in reads[5]!.fields, k);
    for (let i = 0; i < 8; i++) assert.ok(`CD[${64 * i + 63}:${64 * i}]` in reads[1]!.fields, `CD word ${i}`);
    assert.equal(reads[1]!.fields.ASID, 5);
    assert.equal(reads[0]!.fields.S1ContextPtr, CD_ADDR);
    assert.ok(!('S2TTB' in reads[0]!.fields), 'a stage-1-only STE shows no stage-2 fields');
    assert.ok(summaries(t).some((s) => s.includes('IOTLB miss')));
    const t2: Trace = [];
    tr(r, 0x10, 0x1008n, IOMMU_RO, t2);
    assert.ok(summaries(t2).some((s) => s.includes('config cache hit')));
    assert.ok(summaries(t2).some((s) => s.includes('IOTLB hit')));
    assert.equal(t2.filter((s) => s.kind === 'descriptor-read').length, 0);
  });
});

describe('smmuv3: the builder', () => {
  it('uses the largest blocks alignment allows and returns the registers to program', () => {
    const r = rig();
    const res = build(r, {
      streams: [[1, { stage1: { granule: 4096, t0sz: 16, asid: 1, map: [{ iova: 1n * GiB - 4096n, size: 1n * GiB + 2n * MiB + 8192n, pa: 2n * GiB - 4096n, perm: IOMMU_RW }] } }]],
    });
    assert.ok(!('error' in res));
    assert.equal(res.registers.at(-1)!.reg, 'CR0');
    assert.equal(res.cr0, 0xdn);
    const mask = (a: bigint) => tr(r, 1, a, IOMMU_RO).addrMask;
    assert.equal(mask(1n * GiB - 4096n), 0xfffn);
    assert.equal(mask(1n * GiB), GiB - 1n);
    assert.equal(mask(2n * GiB + 4096n), 2n * MiB - 1n);
    assert.equal(mask(2n * GiB + 2n * MiB), 0xfffn);
    assert.equal(tr(r, 1, 1n * GiB + 5n, IOMMU_RO).translatedAddr, 2n * GiB + 5n);
  });

  it('refuses overlapping mappings, misaligned mappings and perms stage 1 cannot express', () => {
    const r = rig();
    const base = { memory: r.ram.backing, memoryBase: RAM_BASE, at: 0n };
    const s1 = (map: Array<{ iova: bigint; size: bigint; pa: bigint; perm: number }>) => buildSmmuTables({ ...base, streams: [[1, { stage1: { granule: 4096, t0sz: 16, asid: 1, map } }]] });
    assert.match((s1([{ iova: 0n, size: 8192n, pa: 0n, perm: IOMMU_RW }, { iova: 4096n, size: 4096n, pa: 0n, perm: IOMMU_RW }]) as { message: string }).message, /overlaps/);
    assert.match((s1([{ iova: 0x800n, size: 4096n, pa: 0n, perm: IOMMU_RW }]) as { message: string }).message, /not aligned/);
    assert.match((s1([{ iova: 0n, size: 4096n, pa: 0n, perm: IOMMU_WO }]) as { message: string }).message, /cannot be expressed/);
  });
});

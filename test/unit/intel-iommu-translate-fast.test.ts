/**
 * VT-d translate() through its number path (IntelIommu.translateFast, on whenever no trace is
 * asked) against translate() through the full path alone (fastTranslate off): two machines built
 * alike from random builder tables (legacy or scalable; every aw-bits and depth; 4 KiB, 2 MiB and
 * 1 GiB leaves; pass-through and absent devices; PASID address spaces with tables, pass-through or
 * no PASID entry; first-stage tables under x-flts; both profiles; a small IOTLB that fills), then
 * the same random sequence on both: translations of every kind of address and flag, table entries
 * damaged (random words, near-valid entries, R/W/PS changed, first-stage A/D cleared, a bit of a
 * PASID directory or PASID entry flipped, a translation type switched to or from pass-through), every
 * invalidation kind, translation switched off and on. After every step: the same entry, and the
 * same effects: IOTLB contents and counts, each address space's context-cache entry and no-DMAR
 * switch, every
 * register (fault status and records among them), the fault log, the guest log, the interrupts and
 * what a vfio-like MAP notifier was told; at the end the same guest memory (first-stage A/D
 * updates). The number path must also have answered a good share of the translations.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { MEMTXATTRS_UNSPECIFIED } from '../../src/engine/attrs';
import type { ModelCommand } from '../../src/engine/device';
import { IOMMU_NONE, IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, IOMMU_RW, type IOMMUTLBEntry } from '../../src/engine/iotlb';
import { buildVtdTables, type VtdBuildMapping } from '../../src/engine/models/intel-iommu';
import { ROOT, events, notifier, program, r64, rig, w64, type Rig } from './intel-iommu-helpers';
import { ABSENT_SID, FLAGS, GIB, PT_SID, SID, buildRandomTables, randomMappings, randomMapsArb, randomUnit, type RandomMap, type RandomUnit } from './intel-iommu-random';
import { assertCovering } from './property-runs';

/** The address spaces every case translates in: [requester ID, PASID]. */
const SPACES: Array<[number, number?]> = [[SID], [SID], [SID], [PT_SID], [ABSENT_SID], [SID, 5], [SID, 7], [SID, 9]];

interface Damage {
  readonly at: number;
  readonly word: bigint;
  readonly table: number;
  readonly low: number;
}

type Op =
  | { readonly kind: 'tr'; readonly space: number; readonly addr: number; readonly flag: number; readonly repeat: number }
  | { readonly kind: 'damage'; readonly d: Damage }
  | { readonly kind: 'inv'; readonly which: number; readonly n: number }
  | { readonly kind: 'te'; readonly on: boolean };

interface Case extends RandomUnit {
  readonly iotlbSize: number;
  readonly maps: RandomMap[];
  readonly damage: Damage[];
  readonly probes: number[];
  readonly ops: Op[];
}

const damageArb: fc.Arbitrary<Damage> = fc.record({ at: fc.nat(), word: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), table: fc.nat(), low: fc.integer({ min: 0, max: 0xfff }) });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('tr' as const), space: fc.nat({ max: SPACES.length - 1 }), addr: fc.nat(), flag: fc.nat({ max: 3 }), repeat: fc.integer({ min: 1, max: 3 }) }), weight: 12 },
  { arbitrary: fc.record({ kind: fc.constant('damage' as const), d: damageArb }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('inv' as const), which: fc.nat({ max: 9 }), n: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('te' as const), on: fc.integer({ min: 0, max: 3 }).map((x) => x !== 0) }), weight: 1 },
);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    old: fc.boolean(),
    awBits: fc.constantFrom(39 as const, 48 as const, 57 as const),
    devAw: fc.constantFrom(39 as const, 48 as const, 57 as const),
    scalable: fc.boolean(),
    fs: fc.integer({ min: 0, max: 2 }).map((x) => x === 0),
    iotlbSize: fc.constantFrom(0, 3, 1024),
    maps: randomMapsArb(8),
    damage: fc.array(damageArb, { maxLength: 3 }),
    probes: fc.array(fc.nat(), { minLength: 6, maxLength: 12 }),
    ops: fc.array(opArb, { minLength: 10, maxLength: 40 }),
  })
  .map((c): Case => ({ ...c, ...randomUnit(c) }));

interface World {
  readonly r: Rig;
  readonly map: VtdBuildMapping[];
  readonly tables: bigint[];
  readonly slpt: bigint;
  readonly end: bigint;
  readonly vfio: ReturnType<typeof notifier>;
}

function world(c: Case, fast: boolean): World {
  const r = rig({ profile: c.profile, awBits: c.awBits, scalableMode: c.scalable, firstStage: c.fs, cachingMode: true, passThrough: true, iotlbSize: c.iotlbSize });
  r.iommu.fastTranslate = fast;
  const map = randomMappings(c);
  const res = buildRandomTables(r, c, map);
  const w: World = { r, map, tables: [...res.tables.keys()], slpt: res.devices.get(SID)!.slptptr!, end: res.end, vfio: notifier(r, SID, IOMMU_NOTIFIER_IOTLB_EVENTS, { replay: true, kind: 'vfio' }) };
  for (const d of c.damage) damage(c, w, d);
  return w;
}

/** As the fast-path test's damage: an entry on some mapping's path, or anywhere in the tables. */
/** Returns the index in SPACES of the address space whose PASID entry it damaged, else -1. */
function damage(c: Case, w: World, k: Damage): number {
  const { r, map } = w;
  const levels = (c.devAw - 30) / 9 + 2;
  let at: bigint;
  const ram = (x: bigint) => x + 8n <= 1n << 30n;
  if (k.low % 5 === 0) {
    // The translation type changed without an invalidation: the device's context entry T (legacy:
    // 0 or 2, pass-through), or PGTT of PASID 0 (RID_PASID) or 5 (4, pass-through, or back to
    // its tables' type); the address space translates at once.
    const ct = r64(r, ROOT) & ~0xfffn;
    const pt = k.table % 2 === 0;
    if (!c.scalable) {
      const ceAt = ct + BigInt(SID) * 16n;
      if (!ram(ceAt)) return -1;
      w64(r, ceAt, (r64(r, ceAt) & ~0xcn) | (pt ? 8n : 0n));
      return 0;
    }
    const ceAt = ct + BigInt(SID & 0x7f) * 32n;
    if (!ram(ceAt)) return -1;
    const pasid = (k.at >> 2) % 2 === 0 ? 0 : 5;
    const dirAt = r64(r, ceAt) & ~0xfffn;
    if (!ram(dirAt)) return -1;
    at = (r64(r, dirAt) & ~0xfffn) + BigInt(pasid) * 64n;
    if (!ram(at)) return -1;
    w64(r, at, (r64(r, at) & ~0x1c0n) | ((pt ? 4n : c.fs ? 1n : 2n) << 6n));
    return pasid === 0 ? 0 : 5;
  }
  if (c.scalable && k.at % 4 === 2) {
    // One bit of a PASID directory entry or of a PASID entry's first three quadwords flipped
    // (P, FPD, AW, PGTT, a pointer, DID...), for PASID 0 (RID_PASID), 5, 7 or 9.
    // (Earlier damage may have sent a pointer out of RAM: then nothing is damaged here.)
    const ct = r64(r, ROOT) & ~0xfffn;
    const ceAt = ct + BigInt(SID & 0x7f) * 32n;
    if (!ram(ceAt)) return -1;
    const dirAt = (r64(r, ceAt) & ~0xfffn) + BigInt([0, 5, 7, 9][(k.at >> 3) % 4]! >> 6) * 8n;
    const pasid = [0, 5, 7, 9][(k.at >> 3) % 4]!;
    const q = k.table % 4;
    if (!ram(dirAt)) return -1;
    at = q === 0 ? dirAt : (r64(r, dirAt) & ~0xfffn) + BigInt(pasid & 63) * 64n + BigInt(q - 1) * 8n;
    if (!ram(at)) return -1;
    // Mostly the low twelve bits, where P, FPD, AW and PGTT are.
    w64(r, at, r64(r, at) ^ (1n << BigInt(k.low % 3 === 0 ? k.low % 64 : k.low % 12)));
    return [0, 5, 6, 7][(k.at >> 3) % 4]!;
  }
  if (k.at % 4 !== 0) {
    const m = map[k.at % map.length]!;
    let table = w.slpt;
    let lv = levels;
    const stop = levels - (k.table % levels);
    for (;;) {
      at = table + ((m.iova >> (12n + 9n * BigInt(lv - 1))) & 511n) * 8n;
      const e = r64(r, at);
      if (lv === stop || lv === 1 || (e & 0x80n) !== 0n || (e & 3n) === 0n || (e & 0xf_ffff_f000n) >= 1n << 30n) break;
      table = e & 0xf_ffff_f000n;
      lv--;
    }
  } else {
    at = ROOT + BigInt(k.at % Number((w.end - ROOT) / 8n)) * 8n;
  }
  const addr = k.table % 4 === 1 ? w.tables[k.table % w.tables.length]! : map[k.table % map.length]!.pa;
  const rsvd = k.table % 3 === 0 ? (c.fs ? 0x80n | (k.word & 0x000f_0000_0000_0000n) : k.word & 0x3ff0_0000_0000_0800n) : 0n;
  // The same entry with other R, W, PS (and, first stage, U/S) bits: A and D cleared with them.
  const same = (r64(r, at) & ~0xfffn) | [1n, 2n, 1n, 2n, 0x81n, 0x83n, 0n, 3n, 7n][k.low % 9]! | (c.fs && k.low % 2 === 0 ? 4n : 0n);
  w64(r, at, k.table % 5 === 0 ? k.word : k.table % 5 >= 3 ? same : addr | BigInt(k.low & (c.fs ? 0x7e7 : 0x783)) | rsvd);
  return -1;
}

function command(c: Case, w: World, which: number, n: number): ModelCommand {
  const m = w.map[n % w.map.length]!;
  const did = [3, 4, 6, 7][n % 4]!;
  switch (which) {
    case 0:
      return { op: 'CC_GLOBAL' };
    case 1:
      return { op: 'CC_DEVICE', sid: [SID, PT_SID, ABSENT_SID][n % 3]!, fm: 0, did };
    case 2:
      return { op: 'IOTLB_GLOBAL' };
    case 3:
      return { op: 'IOTLB_DOMAIN', did };
    case 4:
    case 5:
      return { op: 'IOTLB_PAGE', did: n % 2 ? 3 : did, addr: m.iova, am: m.size === 0x1000n ? n % 3 : m.size === GIB ? 18 : 9 };
    case 6:
      return c.scalable && c.profile === 'architecture' ? { op: 'PIOTLB_PASID', did, pasid: [0, 5, 7][n % 3]! } : { op: 'IOTLB_GLOBAL' };
    case 7:
      return c.scalable && c.profile === 'architecture' ? { op: 'PIOTLB_PAGE', did, pasid: [0, 5][n % 2]!, addr: m.iova, am: 0 } : { op: 'CC_GLOBAL' };
    case 8:
      return c.scalable ? { op: 'PASID_CACHE', did, pasid: 5, g: n % 4 } : { op: 'IOTLB_DOMAIN', did: 3 };
    default:
      return { op: 'CC_DOMAIN', did };
  }
}

function entryText(e: IOMMUTLBEntry, w: World): string {
  return `${e.iova.toString(16)} -> ${e.translatedAddr.toString(16)} mask ${e.addrMask.toString(16)} perm ${e.perm} target ${e.targetAs === w.r.sys ? 'system' : String(e.targetAs?.name)}`;
}

/** Every effect translate() may have, as text. */
function state(w: World): string {
  const io = w.r.iommu;
  const tlb = [...io.iotlb.entries()].map((e) => `${e.sid}/${e.pasid}/${e.level}/${e.gfn} did ${e.domainId} slpte ${e.slpte.toString(16)} perm ${e.perm} out ${e.out.toString(16)} iova ${e.iova.toString(16)}`).sort();
  const spaces = io.regions().map((r) => `${r.bdf}: gen ${r.ccGen} ${r.ccEntry === undefined ? '-' : `${r.ccEntry.lo.toString(16)}/${r.ccEntry.hi.toString(16)}`}${io.isNoDmar(r) ? ' no-DMAR' : ''}`);
  const regs = io.regs.registers.map((x) => `${x.name}=${io.regs.read(BigInt(x.offset), x.width, MEMTXATTRS_UNSPECIFIED).value.toString(16)}`);
  return [
    `iotlb ${io.iotlb.size} hits ${io.iotlb.hits} misses ${io.iotlb.misses}`,
    ...tlb,
    ...spaces,
    regs.join(' '),
    `cc generation ${io.contextCacheGen}`,
    ...io.faultLog.map((f) => JSON.stringify(f, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))),
    ...io.log,
    ...io.interrupts.map((i) => JSON.stringify(i)),
    ...events(w.vfio),
  ].join('\n');
}

function memory(w: World): string {
  const out: string[] = [];
  for (let a = ROOT; a < w.end; a += 8n) {
    const v = r64(w.r, a);
    if (v !== 0n) out.push(`${a.toString(16)}=${v.toString(16)}`);
  }
  return out.join(' ');
}

let fastShare = { fast: 0, all: 0 };
const seen = new Set<string>();

describe('intel-iommu: translate() through the number path and through the full path', () => {
  it('give the same entries and the same effects on random tables, damage, invalidations and TE switches', () => {
    fastShare = { fast: 0, all: 0 };
    assertCovering(
      fc.property(caseArb, (c) => {
        const a = world(c, true);
        const b = world(c, false);
        assert.equal(state(a), state(b), 'after set-up');
        const addrs = c.probes.map((p, i) => {
          if (i % 5 === 4) return BigInt(p) * 0x1234567n;
          if (i % 7 === 6) return 0xfee0_0000n + BigInt(p % 0x10_0000);
          const m = a.map[p % a.map.length]!;
          return m.iova + (BigInt(p) % m.size);
        });
        c.ops.forEach((op, step) => {
          const where = `step ${step} ${JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))} (${c.profile} aw ${c.awBits}/${c.devAw} ${c.scalable ? (c.fs ? 'first-stage' : 'scalable') : 'legacy'} iotlb ${c.iotlbSize})`;
          const translate = (space: number, addr: bigint, flag: number, repeat: number) => {
            const [sid, pasid] = SPACES[space]!;
            for (let i = 0; i < repeat; i++) {
              const before = a.r.iommu.fastAnswers;
              const ea = a.r.iommu.regionFor(sid, pasid).translate(addr, FLAGS[flag]!, 0);
              const eb = b.r.iommu.regionFor(sid, pasid).translate(addr, FLAGS[flag]!, 0);
              assert.equal(entryText(ea, a), entryText(eb, b), `entry: ${where}`);
              // Remapping on, a translation made, no no-DMAR switch: where the number path should
              // answer (but for a context-cache fill or a first-stage A/D update, which the full path makes).
              const counted = ea.perm !== IOMMU_NONE && a.r.iommu.dmarEnabled && !a.r.iommu.isNoDmar(a.r.iommu.regionFor(sid, pasid));
              if (counted) fastShare.all++;
              if (a.r.iommu.fastAnswers !== before) {
                assert.ok(counted, `the number path answered a failure or with remapping off: ${where}`);
                fastShare.fast++;
                seen.add(`${c.fs ? 'fs' : c.scalable ? 'sm' : 'legacy'} ${pasid === undefined ? '' : 'pasid '}${ea.addrMask.toString(16)} ${ea.perm}`);
              }
            }
          };
          if (op.kind === 'tr') {
            translate(op.space, addrs[op.addr % addrs.length]!, op.flag, op.repeat);
          } else if (op.kind === 'damage') {
            const space = damage(c, a, op.d);
            assert.equal(damage(c, b, op.d), space);
            // A damaged PASID entry: its address space translates at once, while its context
            // entry and last resolution are still cached.
            if (space >= 0) for (const addr of addrs.slice(0, 3)) translate(space, addr, 1, 1); // FLAGS[1]: a read
          } else if (op.kind === 'inv') {
            const cmd = command(c, a, op.which, op.n);
            assert.deepEqual(JSON.stringify(a.r.iommu.issueCommands([cmd])), JSON.stringify(b.r.iommu.issueCommands([cmd])), `command: ${where}`);
          } else {
            const g = op.on ? 1n << 31n : 0n;
            program(a.r, [{ reg: 'GCMD', value: g }]);
            program(b.r, [{ reg: 'GCMD', value: g }]);
          }
          assert.equal(state(a), state(b), `effects: ${where}`);
        });
        assert.equal(memory(a), memory(b), 'guest memory at the end');
      }),
      { numRuns: 200, seed: 1 },
    );
    // The number path must have carried the bulk, and every kind of answer.
    assert.ok(fastShare.fast * 2 > fastShare.all, `the number path answered ${fastShare.fast} of ${fastShare.all} successful translations`);
    const kinds = [...seen].sort().join(', ');
    for (const k of ['legacy fff 1', 'legacy fff 3', 'legacy 1fffff 3', 'legacy 3fffffff 3', 'sm fff 3', 'sm pasid fff 3', 'fs fff 3', 'fs 1fffff 3', 'fs pasid fff 3', 'legacy fff 2']) {
      assert.ok(seen.has(k), `the number path never answered ${k} (it answered: ${kinds})`);
    }
  });
});

describe('intel-iommu: translate() on the number path reads the PASID entry every time, as QEMU does', () => {
  /** A scalable machine with 00:03.0 translating 0x4000_0000 -> 0x80_0000 through PASID entry 0 (RID_PASID). */
  function scalable(fast: boolean, fs: boolean) {
    const r = rig({ scalableMode: true, firstStage: fs, cachingMode: true, iotlbSize: 0 });
    r.iommu.fastTranslate = fast;
    const res = buildVtdTables({ memory: r.ram.backing, memoryBase: 0n, at: ROOT, scalable: true, devices: [[SID, { domain: 3, translation: fs ? 'first-stage' : undefined, map: [{ iova: 0x4000_0000n, size: 0x1000n, pa: 0x80_0000n, perm: IOMMU_RW }] }]] });
    if ('error' in res) throw new Error(res.message);
    program(r, res.registers);
    const ct = r64(r, ROOT) & ~0xfffn;
    const dir = r64(r, ct + BigInt(SID) * 32n) & ~0xfffn;
    const pe = r64(r, dir) & ~0xfffn;
    return { r, pe };
  }

  for (const fs of [false, true]) {
    it(`${fs ? 'first stage' : 'second stage'}: a PASID entry made not present, then present again, then pointing elsewhere`, () => {
      const runs = [true, false].map((fast) => {
        const { r, pe } = scalable(fast, fs);
        const region = r.iommu.regionFor(SID);
        const seen: string[] = [];
        const t = () => {
          const e = region.translate(0x4000_0123n, IOMMU_RO, 0);
          seen.push(`${e.translatedAddr.toString(16)} ${e.perm} faults ${r.iommu.faultLog.length}`);
        };
        t();
        t();
        const val0 = r64(r, pe);
        w64(r, pe, val0 & ~1n);
        t();
        w64(r, pe, val0);
        t();
        // The table pointer (SSPTPTR in val0, FSPTPTR in val2) moved to an empty page: a walk fault.
        const q = fs ? pe + 16n : pe;
        const ptr = r64(r, q);
        w64(r, q, (ptr & 0xfffn) | 0x3f00_0000n);
        t();
        w64(r, q, ptr);
        t();
        return { seen, fast: r.iommu.fastAnswers };
      });
      assert.deepEqual(runs[0]!.seen, ['800000 3 faults 0', '800000 3 faults 0', '0 0 faults 1', '800000 3 faults 1', '0 0 faults 2', '800000 3 faults 2']);
      assert.deepEqual(runs[0]!.seen, runs[1]!.seen);
      // The translations after the first went through the number path where they succeeded.
      assert.equal(runs[0]!.fast, 3);
    });
  }
});

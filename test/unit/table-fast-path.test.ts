/**
 * The table model's number fast path (numberTranslator) against its translate() on random
 * tables: random page sizes, mappings anywhere in the region (some wholly or partly at or above
 * 2^53, some with targets there), addresses inside, at the edges of and between mappings. Then
 * the callers that use it: the default replay (translate() and probe() forms) and the views'
 * mapping runs give exactly what they give without it, also after the tables change.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSpace, ContainerRegion, IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO, TableIommu, isEngineError, type IOMMUNotifier, type IOMMUTLBEntry, type TableMapping } from '../../src/engine';
import { newNumberEntry, numberProbe } from '../../src/engine/fast-path';
import type { IOMMUMemoryRegion } from '../../src/engine/iommu';
import { mappingRuns } from '../../src/engine/mappings';

const TWO53 = 1n << 53n;

function spaces(): AddressSpace[] {
  return ['a', 'b'].map((n) => new AddressSpace(n, new ContainerRegion(`${n}-root`, 1n << 64n)));
}

interface Case {
  readonly pageBits: number;
  readonly regionPages: bigint;
  readonly maps: Array<{ at: bigint; pages: number; target: bigint; perm: number; as: number }>;
  readonly probes: bigint[];
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    pageBits: fc.constantFrom(0, 3, 12, 16),
    // Small regions (the replay walks every page) and regions reaching past 2^53.
    big: fc.boolean(),
    maps: fc.array(
      fc.record({
        at: fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
        pages: fc.integer({ min: 1, max: 9 }),
        target: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), fc.bigInt({ min: TWO53 - (1n << 20n), max: TWO53 + (1n << 20n) }), fc.bigInt({ min: 0n, max: (1n << 63n) - 1n })),
        perm: fc.constantFrom(IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW),
        as: fc.integer({ min: 0, max: 1 }),
      }),
      { maxLength: 12 },
    ),
    probes: fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 4, maxLength: 24 }),
  })
  .map(({ pageBits, big, maps, probes }) => {
    const regionPages = big ? (TWO53 >> BigInt(pageBits)) + 64n : 256n;
    return { pageBits, regionPages, maps: maps.map((m) => ({ ...m, at: m.at % regionPages })), probes };
  });

function build(c: Case): { t: TableIommu; region: IOMMUMemoryRegion; ases: AddressSpace[] } {
  const page = 1n << BigInt(c.pageBits);
  const ases = spaces();
  const t = TableIommu.create({ name: 't', size: c.regionPages * page, minPageSize: page, indexes: [{ name: 'all' }, { name: 'other' }] });
  if (isEngineError(t)) throw new Error(t.message);
  for (const m of c.maps) {
    const mapping: TableMapping = { iova: m.at * page, size: BigInt(m.pages) * page, targetAs: ases[m.as]!, target: (m.target >> BigInt(c.pageBits)) << BigInt(c.pageBits), perm: m.perm };
    // Overlapping or out-of-range mappings are refused; the rest make the table.
    t.region.map(0, mapping);
  }
  return { t, region: t.region, ases };
}

/** Addresses worth asking: the random ones, and every mapping's edges and their neighbours. */
function addressesOf(c: Case, t: TableIommu): bigint[] {
  const out = [...c.probes.map((p) => p % t.region.size)];
  for (const m of t.region.mappings(0)) for (const a of [m.iova - 1n, m.iova, m.iova + 1n, m.iova + m.size - 1n, m.iova + m.size]) if (a >= 0n && a < t.region.size) out.push(a);
  return out;
}

/** The same region with its number fast path hidden: what callers do without it. */
function withoutFastPath<T>(region: IOMMUMemoryRegion, f: () => T): T {
  Object.defineProperty(region, 'numberTranslator', { value: undefined, configurable: true });
  try {
    return f();
  } finally {
    delete (region as { numberTranslator?: unknown }).numberTranslator;
  }
}

function replayEvents(region: IOMMUMemoryRegion, idx: number, probe: boolean): { entries: IOMMUTLBEntry[]; result: unknown } {
  const entries: IOMMUTLBEntry[] = [];
  const n: IOMMUNotifier = { name: 'n', owner: 'test', flags: 3, start: 0n, end: (1n << 64n) - 1n, iommuIdx: idx, notify: (_n, ev) => entries.push(ev.entry) };
  const result = region.replay(n, { probe, maxSteps: 4096 });
  return { entries, result };
}

describe('table model: the number fast path agrees with translate()', () => {
  it('on random tables: output, page, permissions and target, or a decline where probe() gives no number answer', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { t, region } = build(c);
        const tr = region.numberTranslator!(0)!;
        assert.equal(tr.answersTranslate, true);
        const out = newNumberEntry();
        const ref = newNumberEntry();
        for (const a of addressesOf(c, t)) {
          for (const flag of [IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW]) {
            const where = `page 2^${c.pageBits} at 0x${a.toString(16)} flag ${flag}`;
            // The reference: translate()'s entry as numbers (numberProbe without a translator).
            const refOk = numberProbe(region, undefined, a, flag, 0, {}, ref);
            const e = region.translate(a, flag, 0);
            assert.deepEqual(region.probe(a, flag, 0), e, `probe is translate ${where}`);
            if (a >= TWO53) continue;
            const ok = tr.translate(Number(a), flag, out);
            assert.equal(ok, refOk, `answered ${where}`);
            if (!ok) continue;
            assert.deepEqual({ ...out }, { ...ref }, `entry ${where}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the default replay (translate and probe forms) and the mapping runs are the same with and without it, also after the tables change', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), (c, pick) => {
        const { t, region } = build(c);
        const check = () => {
          for (const probe of [false, true]) {
            for (const idx of [0, 1]) assert.deepEqual(replayEvents(region, idx, probe), withoutFastPath(region, () => replayEvents(region, idx, probe)), `replay idx ${idx} probe ${probe}`);
          }
          for (const from of [0n, region.size / 2n]) {
            for (const maxRuns of [1, 3, 100]) {
              const q = { from, maxRuns, maxSteps: 2048 };
              assert.deepEqual(mappingRuns(region, 0, q), withoutFastPath(region, () => mappingRuns(region, 0, q)), `runs from 0x${from.toString(16)} max ${maxRuns}`);
            }
          }
        };
        check();
        // A translator made before a change declines after it; callers made after see the change.
        const tr = region.numberTranslator!(0)!;
        const list = t.region.mappings(0);
        if (list.length > 0) {
          const m = list[pick % list.length]!;
          const removed = t.region.unmap(0, m.iova, m.size);
          assert.ok(!isEngineError(removed));
          if (m.iova < TWO53) assert.equal(tr.translate(Number(m.iova), IOMMU_NONE, newNumberEntry()), false, 'a stale translator declines');
          check();
        }
      }),
      { numRuns: 60 },
    );
  });
});

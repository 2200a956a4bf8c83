// IntervalMap (vfio's and vhost's shadows) and BoundedLog (a notifier's received events) against
// the plain structures they replace: a Map scanned in full, an array spliced at its limit.
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { BoundedLog, IntervalMap } from '../../src/engine/interval-map';

interface E {
  readonly iova: bigint;
  readonly size: bigint;
  readonly tag: number;
}

const op = fc.record({
  kind: fc.constantFrom('map' as const, 'unmap' as const, 'fill' as const),
  page: fc.integer({ min: 0, max: 2000 }),
  pages: fc.integer({ min: 1, max: 40 }),
});

describe('IntervalMap', () => {
  it('answers overlaps, inserts and deletes as a scanned Map does, in any order (vfio and vhost rules)', () => {
    fc.assert(
      // Above 2^53 neighbouring starts round to one number: the base near 2^63 with byte units tests the ties.
      fc.property(fc.array(op, { maxLength: 600 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom(0n, 1n << 63n), fc.constantFrom(0x1000n, 1n), (ops, chunk, base, unit) => {
        const m = new IntervalMap<E>(chunk);
        const ref = new Map<bigint, E>();
        const scan = (iova: bigint, size: bigint) => [...ref.values()].filter((v) => v.iova < iova + size && iova < v.iova + v.size).sort((a, b) => (a.iova < b.iova ? -1 : 1));
        ops.forEach((o, tag) => {
          const iova = base + BigInt(o.page) * unit;
          const size = BigInt(o.pages) * unit;
          const hit = m.overlapping(iova, size);
          assert.deepEqual(hit, scan(iova, size));
          if (o.kind === 'map') {
            // vfio: refused (-EEXIST) when anything overlaps.
            if (hit.length) return;
            m.insert({ iova, size, tag });
            ref.set(iova, { iova, size, tag });
          } else if (o.kind === 'fill') {
            // vhost: what overlaps is flushed, then the page is cached.
            for (const x of hit) {
              assert.ok(m.delete(x.iova));
              ref.delete(x.iova);
            }
            m.insert({ iova, size, tag });
            ref.set(iova, { iova, size, tag });
          } else {
            for (const x of hit) {
              m.delete(x.iova);
              ref.delete(x.iova);
            }
          }
          assert.equal(m.size, ref.size);
        });
        // Iteration is the Map's: insertion order.
        assert.deepEqual([...m.values()], [...ref.values()]);
        assert.deepEqual([...m.keys()], [...ref.keys()]);
        for (const k of ref.keys()) assert.deepEqual(m.get(k), ref.get(k));
        assert.deepEqual(m.overlapping(base, 1n << 40n), [...ref.values()].sort((a, b) => (a.iova < b.iova ? -1 : 1)));
      }),
      { numRuns: 150 },
    );
  });

  it('keeps many entries in chunks: 5,000 scattered pages, then every other one removed', () => {
    const m = new IntervalMap<E>();
    for (let i = 0; i < 5000; i++) {
      const p = BigInt((i * 7919) % 5000);
      m.insert({ iova: p * 0x1000n, size: 0x1000n, tag: i });
    }
    for (let p = 0n; p < 5000n; p += 2n) assert.ok(m.delete(p * 0x1000n));
    assert.equal(m.size, 2500);
    assert.deepEqual(
      m.overlapping(0x1800n, 0x3000n).map((e) => e.iova),
      [0x1000n, 0x3000n],
    );
    assert.equal(m.overlapping(0x2000n, 0x1000n).length, 0);
    assert.equal(m.delete(0x2000n), false);
  });
});

describe('BoundedLog', () => {
  it('holds the newest `limit` items, oldest first, like an array spliced at the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(fc.integer(), { maxLength: 100 }), fc.integer({ min: 0, max: 20 }), (limit, xs, newLimit) => {
        const log = new BoundedLog<number>(limit);
        const ref: number[] = [];
        for (const x of xs) {
          log.push(x);
          if (limit > 0) ref.push(x);
          if (ref.length > limit) ref.splice(0, ref.length - limit);
          assert.equal(log.at(-1), ref.at(-1));
        }
        assert.deepEqual(log.toArray(), ref);
        assert.deepEqual([...log], ref);
        assert.equal(log.length, ref.length);
        assert.deepEqual(log.slice(1), ref.slice(1));
        assert.deepEqual(log.filter((x) => x % 2 === 0), ref.filter((x) => x % 2 === 0));
        assert.deepEqual(log.map((x) => x + 1), ref.map((x) => x + 1));
        assert.equal(log.find((x) => x > 0), ref.find((x) => x > 0));
        assert.equal(log.some((x) => x > 0), ref.some((x) => x > 0));
        assert.equal(log.every((x) => x > 0), ref.every((x) => x > 0));
        const seen: number[] = [];
        log.forEach((x, i) => seen.push(x, i));
        assert.deepEqual(seen, ref.flatMap((x, i) => [x, i]));
        for (let i = -ref.length - 1; i <= ref.length; i++) assert.equal(log.at(i), ref.at(i));
        log.limit = newLimit;
        const kept = newLimit > 0 ? ref.slice(Math.max(0, ref.length - newLimit)) : [];
        assert.deepEqual(log.toArray(), kept);
        log.push(7);
        if (newLimit > 0) kept.push(7);
        if (kept.length > newLimit) kept.splice(0, kept.length - newLimit);
        assert.deepEqual(log.toArray(), kept);
        log.clear();
        assert.equal(log.length, 0);
      }),
      { numRuns: 300 },
    );
  });
});

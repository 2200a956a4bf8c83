/**
 * Notifier registration, notification and replay, checked against system/memory.c:
 * memory_region_register_iommu_notifier, memory_region_update_iommu_notify_flags,
 * memory_region_unregister_iommu_notifier, memory_region_notify_iommu(_one),
 * memory_region_unmap_iommu_notifier_range and memory_region_iommu_replay.
 */
import assert from 'node:assert/strict';
import {
  AddressSpace,
  AliasRegion,
  ContainerRegion,
  IOMMUMemoryRegion,
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_NONE,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  RamRegion,
  engineError,
  isEngineError,
  registerIommuNotifier,
  type EngineError,
  type IOMMUAccessFlags,
  type IOMMUNotifier,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
  type IOMMUTLBEvent,
  type NotifyRecord,
  type ReplayResult,
} from '../../src/engine';

/** A model with a translate the test controls and a notify_flag_changed that logs (and may refuse). */
class TestIommu extends IOMMUMemoryRegion {
  readonly model = 'test';
  readonly flagCalls: Array<[IOMMUNotifierFlag, IOMMUNotifierFlag]> = [];
  readonly translateCalls: Array<{ addr: bigint; flag: IOMMUAccessFlags; idx: number }> = [];
  refuseWith?: EngineError;
  readonly records: NotifyRecord[] = [];

  constructor(
    name: string,
    size: bigint,
    private readonly nIndexes = 1,
    private readonly page = 0x1000n,
    private readonly fn: (addr: bigint, idx: number) => IOMMUTLBEntry = (addr) => ({
      targetAs: null,
      iova: addr,
      translatedAddr: 0n,
      addrMask: 0xfffn,
      perm: IOMMU_NONE,
    }),
  ) {
    super(name, size);
    this.observer = (r) => this.records.push(r);
  }

  translate(addr: bigint, flag: IOMMUAccessFlags, idx: number): IOMMUTLBEntry {
    this.translateCalls.push({ addr, flag, idx });
    return this.fn(addr, idx);
  }

  override numIndexes(): number {
    return this.nIndexes;
  }

  override minPageSize(): bigint {
    return this.page;
  }

  override notifyFlagChanged(old: IOMMUNotifierFlag, nw: IOMMUNotifierFlag): EngineError | undefined {
    this.flagCalls.push([old, nw]);
    return this.refuseWith;
  }
}

interface TestNotifier extends IOMMUNotifier {
  readonly events: IOMMUTLBEvent[];
}

function notifier(
  name: string,
  flags: IOMMUNotifierFlag,
  start = 0n,
  end = 0xffff_ffff_ffff_ffffn,
  iommuIdx = 0,
  order?: string[],
): TestNotifier {
  const events: IOMMUTLBEvent[] = [];
  return {
    name,
    owner: 'test',
    flags,
    start,
    end,
    iommuIdx,
    events,
    notify(_n, ev) {
      events.push({ type: ev.type, entry: { ...ev.entry } });
      order?.push(name);
    },
  };
}

function entry(iova: bigint, addrMask: bigint, perm: IOMMUAccessFlags, translatedAddr = 0n): IOMMUTLBEntry {
  return { targetAs: null, iova, translatedAddr, addrMask, perm };
}

function assertError(v: unknown, code: string): EngineError {
  assert.ok(isEngineError(v), `expected an EngineError with code ${code}, got ${String(v)}`);
  assert.equal(v.code, code);
  assert.equal(typeof v.message, 'string');
  assert.ok(v.message.length > 0);
  return v;
}

describe('notifier registration (memory_region_register_iommu_notifier)', () => {
  it('rejects flags NONE as notifier-flags-none and changes nothing', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const ok = notifier('ok', IOMMU_NOTIFIER_UNMAP);
    assert.equal(mr.registerNotifier(ok), undefined);
    const callsBefore = mr.flagCalls.length;
    const err = mr.registerNotifier(notifier('none', IOMMU_NOTIFIER_NONE));
    assertError(err, 'notifier-flags-none');
    assert.deepEqual(mr.notifiers, [ok]);
    assert.equal(mr.iommuNotifyFlags, IOMMU_NOTIFIER_UNMAP);
    assert.equal(mr.flagCalls.length, callsBefore);
  });

  it('rejects start > end as notifier-range and changes nothing', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const err = mr.registerNotifier(notifier('bad', IOMMU_NOTIFIER_MAP, 0x2000n, 0x1fffn));
    assertError(err, 'notifier-range');
    assert.deepEqual(mr.notifiers, []);
    assert.equal(mr.iommuNotifyFlags, IOMMU_NOTIFIER_NONE);
    assert.deepEqual(mr.flagCalls, []);
  });

  it('accepts start == end (a one-byte range)', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    assert.equal(mr.registerNotifier(notifier('one', IOMMU_NOTIFIER_MAP, 0x2000n, 0x2000n)), undefined);
    assert.equal(mr.notifiers.length, 1);
  });

  for (const idx of [-1, 2, 3, 1.5, Number.NaN]) {
    it(`rejects index ${idx} on a 2-index region as notifier-index and changes nothing`, () => {
      const mr = new TestIommu('iommu', 0x10000n, 2);
      const ok = notifier('ok', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 1);
      assert.equal(mr.registerNotifier(ok), undefined);
      const calls = mr.flagCalls.length;
      const err = mr.registerNotifier(notifier('bad', IOMMU_NOTIFIER_UNMAP, 0n, 0xffffn, idx));
      assertError(err, 'notifier-index');
      assert.deepEqual(mr.notifiers, [ok]);
      assert.equal(mr.iommuNotifyFlags, IOMMU_NOTIFIER_MAP);
      assert.equal(mr.flagCalls.length, calls);
    });
  }

  it('index == num_indexes - 1 is the last valid one', () => {
    const mr = new TestIommu('iommu', 0x10000n, 3);
    assert.equal(mr.registerNotifier(notifier('last', IOMMU_NOTIFIER_MAP, 0n, 1n, 2)), undefined);
    assertError(mr.registerNotifier(notifier('past', IOMMU_NOTIFIER_MAP, 0n, 1n, 3)), 'notifier-index');
  });

  it('inserts at the head: the list is in reverse registration order, and so is delivery', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const order: string[] = [];
    const a = notifier('a', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0, order);
    const b = notifier('b', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0, order);
    const c = notifier('c', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0, order);
    for (const n of [a, b, c]) assert.equal(mr.registerNotifier(n), undefined);
    assert.deepEqual(mr.notifiers.map((n) => n.name), ['c', 'b', 'a']);
    mr.notify(0, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x1000n, 0xfffn, IOMMU_RW, 0x5000n) });
    assert.deepEqual(order, ['c', 'b', 'a']);
  });

  it('calls notifyFlagChanged only when the OR of the flags changes, with the exact old and new values', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const u1 = notifier('u1', IOMMU_NOTIFIER_UNMAP);
    const u2 = notifier('u2', IOMMU_NOTIFIER_UNMAP);
    const m = notifier('m', IOMMU_NOTIFIER_MAP);
    const d = notifier('d', IOMMU_NOTIFIER_DEVIOTLB_UNMAP | IOMMU_NOTIFIER_UNMAP);
    mr.registerNotifier(u1);
    assert.deepEqual(mr.flagCalls, [[0, 1]]);
    mr.registerNotifier(u2);
    assert.deepEqual(mr.flagCalls, [[0, 1]], 'OR unchanged: no call');
    mr.registerNotifier(m);
    assert.deepEqual(mr.flagCalls, [[0, 1], [1, 3]]);
    mr.registerNotifier(d);
    assert.deepEqual(mr.flagCalls, [[0, 1], [1, 3], [3, 7]]);
    assert.equal(mr.iommuNotifyFlags, 7);
    assert.equal(mr.unregisterNotifier(u2), true);
    assert.equal(mr.flagCalls.length, 3, 'removing u2 leaves the OR at 7');
    assert.equal(mr.unregisterNotifier(m), true);
    assert.deepEqual(mr.flagCalls.at(-1), [7, 5]);
    assert.equal(mr.unregisterNotifier(d), true);
    assert.deepEqual(mr.flagCalls.at(-1), [5, 1]);
    assert.equal(mr.unregisterNotifier(u1), true);
    assert.deepEqual(mr.flagCalls.at(-1), [1, 0]);
    assert.equal(mr.flagCalls.length, 6);
    assert.equal(mr.iommuNotifyFlags, IOMMU_NOTIFIER_NONE);
    assert.deepEqual(mr.notifiers, []);
    assert.equal(mr.unregisterNotifier(u1), false, 'a second unregister finds nothing');
  });

  it('a refusal rolls the notifier back, keeps the old flags and returns the model error', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const u = notifier('u', IOMMU_NOTIFIER_UNMAP);
    mr.registerNotifier(u);
    const refusal = engineError('notifier-refused', 'model says no to MAP');
    mr.refuseWith = refusal;
    const err = mr.registerNotifier(notifier('m', IOMMU_NOTIFIER_MAP));
    assert.equal(err, refusal);
    assert.deepEqual(mr.flagCalls, [[0, 1], [1, 3]]);
    assert.deepEqual(mr.notifiers, [u]);
    assert.equal(mr.iommuNotifyFlags, IOMMU_NOTIFIER_UNMAP);
    // A registration that does not change the OR never asks the model, so it is not refused.
    assert.equal(mr.registerNotifier(notifier('u2', IOMMU_NOTIFIER_UNMAP)), undefined);
    assert.equal(mr.flagCalls.length, 2);
    assert.equal(mr.notifiers.length, 2);
  });

  it('unregister ignores a refusal; the stored flags then stay as they were', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const u = notifier('u', IOMMU_NOTIFIER_UNMAP);
    const m = notifier('m', IOMMU_NOTIFIER_MAP);
    mr.registerNotifier(u);
    mr.registerNotifier(m);
    assert.equal(mr.iommuNotifyFlags, 3);
    mr.refuseWith = engineError('notifier-refused', 'no');
    assert.equal(mr.unregisterNotifier(m), true);
    assert.deepEqual(mr.notifiers, [u], 'the notifier is gone even though the model refused');
    assert.deepEqual(mr.flagCalls.at(-1), [3, 1]);
    assert.equal(mr.iommuNotifyFlags, 3, 'QEMU only stores the new flags when the callback returned 0');
    // The stale stored flags mean that re-adding MAP is not a change: no call at all.
    mr.refuseWith = undefined;
    const calls = mr.flagCalls.length;
    assert.equal(mr.registerNotifier(notifier('m2', IOMMU_NOTIFIER_MAP)), undefined);
    assert.equal(mr.flagCalls.length, calls);
    assert.equal(mr.iommuNotifyFlags, 3);
  });

  it('registration through an alias (and an alias of an alias) lands on the IOMMU region', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const alias = new AliasRegion('alias', 0x8000n, mr, 0x4000n);
    const alias2 = new AliasRegion('alias2', 0x1000n, alias, 0x1000n);
    const n1 = notifier('n1', IOMMU_NOTIFIER_MAP);
    const n2 = notifier('n2', IOMMU_NOTIFIER_UNMAP);
    assert.equal(registerIommuNotifier(alias, n1), undefined);
    assert.equal(registerIommuNotifier(alias2, n2), undefined);
    assert.deepEqual(mr.notifiers, [n2, n1]);
    assert.equal(mr.iommuNotifyFlags, 3);
    assert.equal(alias.subregions.length, 0);
  });

  it('registration on something that is not an IOMMU is an error', () => {
    const ram = new RamRegion('ram', 0x1000n);
    assertError(registerIommuNotifier(ram, notifier('n', IOMMU_NOTIFIER_MAP)), 'not-an-iommu');
    const c = new ContainerRegion('c', 0x1000n);
    assertError(registerIommuNotifier(new AliasRegion('a', 0x1000n, c, 0n), notifier('n', IOMMU_NOTIFIER_MAP)), 'not-an-iommu');
  });

  it('registering the same notifier twice is an error and changes nothing', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const n = notifier('n', IOMMU_NOTIFIER_MAP);
    mr.registerNotifier(n);
    assertError(mr.registerNotifier(n), 'notifier-registered');
    assert.deepEqual(mr.notifiers, [n]);
  });
});

describe('notification (memory_region_notify_iommu / _one)', () => {
  it('notify delivers only to notifiers whose index equals the event index', () => {
    const mr = new TestIommu('iommu', 0x10000n, 3);
    const n0 = notifier('n0', IOMMU_NOTIFIER_IOTLB_EVENTS, 0n, 0xffffn, 0);
    const n1 = notifier('n1', IOMMU_NOTIFIER_IOTLB_EVENTS, 0n, 0xffffn, 1);
    const n2 = notifier('n2', IOMMU_NOTIFIER_IOTLB_EVENTS, 0n, 0xffffn, 2);
    for (const n of [n0, n1, n2]) mr.registerNotifier(n);
    mr.notify(1, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x3000n, 0xfffn, IOMMU_RO, 0x9000n) });
    assert.equal(n0.events.length, 0);
    assert.equal(n2.events.length, 0);
    assert.deepEqual(n1.events, [{ type: IOMMU_NOTIFIER_MAP, entry: entry(0x3000n, 0xfffn, IOMMU_RO, 0x9000n) }]);
    assert.equal(mr.records.length, 1, 'the other indexes are not even considered');
  });

  it('an UNMAP with perm != NONE is an assert outcome and is not delivered', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const n = notifier('n', IOMMU_NOTIFIER_UNMAP);
    mr.registerNotifier(n);
    const ev: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x1000n, 0xfffn, IOMMU_WO) };
    assert.equal(mr.notifyOne(n, ev), 'assert');
    assert.equal(n.events.length, 0);
    assert.equal(mr.records.length, 1);
    assert.equal(mr.records[0]!.outcome, 'assert');
    assert.match(mr.records[0]!.message!, /perm == IOMMU_NONE/);
    // The check is before the range check: even an entry outside the range asserts.
    const far: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x1_0000_0000n, 0xfffn, IOMMU_RW) };
    const n2 = notifier('n2', IOMMU_NOTIFIER_UNMAP, 0n, 0xffffn);
    assert.equal(mr.notifyOne(n2, far), 'assert');
  });

  it('a DEVIOTLB_UNMAP event is not checked for perm NONE', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const n = notifier('n', IOMMU_NOTIFIER_DEVIOTLB_UNMAP, 0n, 0xffffn);
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_DEVIOTLB_UNMAP, entry: entry(0x1000n, 0xfffn, IOMMU_RW) }), 'delivered');
    assert.equal(n.events[0]!.entry.perm, IOMMU_RW);
  });

  it('skips an entry that does not overlap the range (both sides, edges exact)', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const n = notifier('n', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x2000n, 0x2fffn);
    // [0x1000, 0x1fff] ends just before start; [0x3000, 0x3fff] starts just after end.
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x1000n, 0xfffn, IOMMU_RW) }), 'no-overlap');
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x3000n, 0xfffn, IOMMU_RW) }), 'no-overlap');
    assert.equal(n.events.length, 0);
    // One byte of overlap at either edge is enough.
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x1001n, 0xfffn, IOMMU_RW) }), 'delivered');
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x2fffn, 0xfffn, IOMMU_RW) }), 'delivered');
    assert.deepEqual(
      n.events.map((e) => [e.entry.iova, e.entry.addrMask]),
      [
        [0x2000n, 0n],
        [0x2fffn, 0n],
      ],
    );
  });

  it("crops under 'current': iova = max, mask = min(end) - iova, translated_addr untouched", () => {
    const mr = new TestIommu('iommu', 0x10000n);
    assert.equal(mr.semantics, 'current');
    const n = notifier('n', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x1800n, 0x2fffn);
    const ev: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_MAP, entry: entry(0n, 0x3fffn, IOMMU_RW, 0x8000_0000n) };
    assert.equal(mr.notifyOne(n, ev), 'delivered');
    assert.deepEqual(n.events, [{ type: IOMMU_NOTIFIER_MAP, entry: entry(0x1800n, 0x17ffn, IOMMU_RW, 0x8000_0000n) }]);
    // 0x17ff is not of the form 2^n - 1.
    const m = n.events[0]!.entry.addrMask;
    assert.notEqual(m & (m + 1n), 0n);
    // The caller's event is not modified.
    assert.deepEqual(ev.entry, entry(0n, 0x3fffn, IOMMU_RW, 0x8000_0000n));
    // The observer sees the original event and the delivered (cropped) entry.
    const rec = mr.records.at(-1)!;
    assert.equal(rec.outcome, 'delivered');
    assert.equal(rec.event.entry.iova, 0n);
    assert.equal(rec.delivered!.iova, 0x1800n);
    assert.equal(rec.delivered!.addrMask, 0x17ffn);
  });

  it("crops the high side under 'current' too (entry starting inside, ending past the range)", () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const n = notifier('n', IOMMU_NOTIFIER_UNMAP, 0x0n, 0x2fffn);
    assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x2000n, 0x1fffn, IOMMU_NONE) }), 'delivered');
    assert.deepEqual(n.events[0]!.entry, entry(0x2000n, 0xfffn, IOMMU_NONE));
  });

  describe("'5.2-9.x' semantics", () => {
    function old(): TestIommu {
      const mr = new TestIommu('iommu', 0x10000n);
      mr.semantics = '5.2-9.x';
      return mr;
    }

    it('a MAP entry reaching outside a MAP|UNMAP notifier is an assert outcome, not delivered', () => {
      const mr = old();
      const n = notifier('vfio', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x1800n, 0x2fffn);
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0n, 0x3fffn, IOMMU_RW, 0x8000_0000n) }), 'assert');
      assert.equal(n.events.length, 0);
      const rec = mr.records.at(-1)!;
      assert.equal(rec.outcome, 'assert');
      assert.match(rec.message!, /this would assert in QEMU < 10\.0/);
      assert.equal(rec.delivered, undefined);
    });

    it('an UNMAP entry reaching outside asserts too (low side and high side)', () => {
      const mr = old();
      const n = notifier('vhost', IOMMU_NOTIFIER_UNMAP, 0x2000n, 0x2fffn);
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x1000n, 0x1fffn, IOMMU_NONE) }), 'assert');
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x2800n, 0xfffn, IOMMU_NONE) }), 'assert');
      assert.equal(n.events.length, 0);
    });

    it('the range assert comes before the type filter', () => {
      const mr = old();
      const n = notifier('m', IOMMU_NOTIFIER_MAP, 0x2000n, 0x2fffn);
      // UNMAP would be type-filtered, but QEMU 5.2-9.x asserts first.
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x0n, 0xffffn, IOMMU_NONE) }), 'assert');
    });

    it('entries fully inside the range are delivered uncropped', () => {
      const mr = old();
      const n = notifier('vfio', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x1000n, 0x4fffn);
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x1000n, 0x3fffn, IOMMU_RO, 0x7000n) }), 'delivered');
      assert.deepEqual(n.events, [{ type: IOMMU_NOTIFIER_MAP, entry: entry(0x1000n, 0x3fffn, IOMMU_RO, 0x7000n) }]);
    });

    it('only DEVIOTLB_UNMAP notifiers crop', () => {
      const mr = old();
      const d = notifier('dev', IOMMU_NOTIFIER_DEVIOTLB_UNMAP, 0x1800n, 0x2fffn);
      assert.equal(
        mr.notifyOne(d, { type: IOMMU_NOTIFIER_DEVIOTLB_UNMAP, entry: entry(0n, 0xffff_ffff_ffff_ffffn, IOMMU_NONE, 0x42n) }),
        'delivered',
      );
      assert.deepEqual(d.events[0]!.entry, entry(0x1800n, 0x17ffn, IOMMU_NONE, 0x42n));
      // A notifier with DEVIOTLB_UNMAP among its flags crops every event type it gets.
      const du = notifier('du', IOMMU_NOTIFIER_DEVIOTLB_UNMAP | IOMMU_NOTIFIER_UNMAP, 0x2000n, 0x2fffn);
      assert.equal(mr.notifyOne(du, { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x0n, 0xffffn, IOMMU_NONE) }), 'delivered');
      assert.deepEqual(du.events[0]!.entry, entry(0x2000n, 0xfffn, IOMMU_NONE));
    });

    it('non-overlap is still a silent skip, not an assert', () => {
      const mr = old();
      const n = notifier('vfio', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x2000n, 0x2fffn);
      assert.equal(mr.notifyOne(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x4000n, 0xfffn, IOMMU_RW) }), 'no-overlap');
    });
  });

  it('type filtering: delivered only when event.type & notifier_flags', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const u = notifier('u', IOMMU_NOTIFIER_UNMAP, 0n, 0xffffn);
    const m = notifier('m', IOMMU_NOTIFIER_MAP, 0n, 0xffffn);
    const d = notifier('d', IOMMU_NOTIFIER_DEVIOTLB_UNMAP, 0n, 0xffffn);
    const mapEv: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_MAP, entry: entry(0x1000n, 0xfffn, IOMMU_RW) };
    const unmapEv: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_UNMAP, entry: entry(0x1000n, 0xfffn, IOMMU_NONE) };
    const devEv: IOMMUTLBEvent = { type: IOMMU_NOTIFIER_DEVIOTLB_UNMAP, entry: entry(0x1000n, 0xfffn, IOMMU_NONE) };
    assert.deepEqual(
      [u, m, d].map((n) => [mr.notifyOne(n, mapEv), mr.notifyOne(n, unmapEv), mr.notifyOne(n, devEv)]),
      [
        ['type-filtered', 'delivered', 'type-filtered'],
        ['delivered', 'type-filtered', 'type-filtered'],
        ['type-filtered', 'type-filtered', 'delivered'],
      ],
    );
    assert.deepEqual(u.events.map((e) => e.type), [IOMMU_NOTIFIER_UNMAP]);
    assert.deepEqual(m.events.map((e) => e.type), [IOMMU_NOTIFIER_MAP]);
    assert.deepEqual(d.events.map((e) => e.type), [IOMMU_NOTIFIER_DEVIOTLB_UNMAP]);
  });

  it('unmapNotifierRange delivers one UNMAP of the whole range, whatever the notifier index', () => {
    const mr = new TestIommu('iommu', 0x10000n, 2);
    const n = notifier('n', IOMMU_NOTIFIER_UNMAP, 0x1000n, 0x4fffn, 1);
    mr.registerNotifier(n);
    assert.equal(mr.unmapNotifierRange(n), 'delivered');
    assert.equal(n.events.length, 1);
    const ev = n.events[0]!;
    assert.equal(ev.type, IOMMU_NOTIFIER_UNMAP);
    assert.equal(ev.entry.iova, 0x1000n);
    assert.equal(ev.entry.addrMask, 0x3fffn);
    assert.equal(ev.entry.perm, IOMMU_NONE);
    // A MAP-only notifier gets it type-filtered; a full-range one gets mask 2^64-1.
    const m = notifier('m', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0);
    assert.equal(mr.unmapNotifierRange(m), 'type-filtered');
    const all = notifier('all', IOMMU_NOTIFIER_UNMAP);
    assert.equal(mr.unmapNotifierRange(all), 'delivered');
    assert.equal(all.events[0]!.entry.iova, 0n);
    assert.equal(all.events[0]!.entry.addrMask, 0xffff_ffff_ffff_ffffn);
  });

  it('unmapNotifierRange targets system memory (address_space_memory), as QEMU fills it in', () => {
    const mr = new TestIommu('iommu', 0x10000n);
    const sys = new AddressSpace('system', new ContainerRegion('sysmem', 0x1000n));
    mr.systemAs = sys;
    const n = notifier('n', IOMMU_NOTIFIER_UNMAP, 0n, 0xfffn);
    mr.unmapNotifierRange(n);
    assert.equal(n.events[0]!.entry.targetAs, sys);
  });

  it("unmapNotifierRange is in range by construction, so '5.2-9.x' delivers it too", () => {
    const mr = new TestIommu('iommu', 0x10000n);
    mr.semantics = '5.2-9.x';
    const n = notifier('n', IOMMU_NOTIFIER_IOTLB_EVENTS, 0x3000n, 0x3fffn);
    assert.equal(mr.unmapNotifierRange(n), 'delivered');
    assert.deepEqual([n.events[0]!.entry.iova, n.events[0]!.entry.addrMask], [0x3000n, 0xfffn]);
  });
});

describe('replay (memory_region_iommu_replay)', () => {
  /** Index 0 maps 0x2000 (a 4 KiB page) and 0x5000 (an entry with a wide mask); index 1 maps 0x7000. */
  function replayModel(size = 0x10000n, page = 0x1000n): TestIommu {
    return new TestIommu('iommu', size, 2, page, (addr, idx) => {
      if (idx === 0 && addr === 0x2000n) return { targetAs: null, iova: 0x2000n, translatedAddr: 0xa000n, addrMask: 0xfffn, perm: IOMMU_RW };
      if (idx === 0 && addr === 0x5000n) return { targetAs: null, iova: 0x4000n, translatedAddr: 0xb000n, addrMask: 0x3fffn, perm: IOMMU_RO };
      if (idx === 1 && addr === 0x7000n) return { targetAs: null, iova: 0x7000n, translatedAddr: 0xc000n, addrMask: 0xfffn, perm: IOMMU_WO };
      return { targetAs: null, iova: addr, translatedAddr: 0n, addrMask: page - 1n, perm: IOMMU_NONE };
    });
  }

  it('translates from 0 in min-page-size steps with flag NONE on the notifier index, regardless of n.start', () => {
    const mr = replayModel();
    // Range far from the mappings and UNMAP-only: replay ignores both.
    const n = notifier('n', IOMMU_NOTIFIER_UNMAP, 0x8000n, 0x8fffn, 0);
    const r = mr.replay(n);
    assert.deepEqual(r, { kind: 'default', steps: 16, delivered: 2 });
    assert.deepEqual(
      mr.translateCalls,
      Array.from({ length: 16 }, (_, i) => ({ addr: BigInt(i) * 0x1000n, flag: IOMMU_NONE, idx: 0 })),
    );
    // No range check, no crop, no type filter; delivered as MAP, in address order.
    assert.deepEqual(n.events, [
      { type: IOMMU_NOTIFIER_MAP, entry: { targetAs: null, iova: 0x2000n, translatedAddr: 0xa000n, addrMask: 0xfffn, perm: IOMMU_RW } },
      { type: IOMMU_NOTIFIER_MAP, entry: { targetAs: null, iova: 0x4000n, translatedAddr: 0xb000n, addrMask: 0x3fffn, perm: IOMMU_RO } },
    ]);
    assert.deepEqual(
      mr.records.map((x) => x.outcome),
      ['replay', 'replay'],
    );
  });

  it('replays the notifier index only', () => {
    const mr = replayModel();
    const n = notifier('n1', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 1);
    const r = mr.replay(n);
    assert.equal(r.delivered, 1);
    assert.ok(mr.translateCalls.every((c) => c.idx === 1));
    assert.deepEqual(n.events.map((e) => [e.entry.iova, e.entry.perm]), [[0x7000n, IOMMU_WO]]);
  });

  it('uses the min page size as the step (a partial last page is still visited)', () => {
    const mr = replayModel(0x2800n, 0x800n);
    const n = notifier('n', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0);
    const r = mr.replay(n);
    assert.equal(r.steps, 5);
    assert.deepEqual(mr.translateCalls.map((c) => c.addr), [0n, 0x800n, 0x1000n, 0x1800n, 0x2000n]);
    assert.equal(r.delivered, 1);
  });

  it('stops on wrap: a 2^64-byte region with 2^62-byte pages takes 4 steps', () => {
    const mr = new TestIommu('huge', 1n << 64n, 1, 1n << 62n, (addr) => ({
      targetAs: null,
      iova: addr,
      translatedAddr: addr,
      addrMask: (1n << 62n) - 1n,
      perm: IOMMU_RW,
    }));
    const n = notifier('n', IOMMU_NOTIFIER_MAP);
    const r = mr.replay(n);
    assert.deepEqual(r, { kind: 'default', steps: 4, delivered: 4 });
    assert.deepEqual(mr.translateCalls.map((c) => c.addr), [0n, 1n << 62n, 2n << 62n, 3n << 62n]);
  });

  it('stops after maxSteps with a replay-too-long EngineError', () => {
    const mr = replayModel();
    const n = notifier('n', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0);
    const r = mr.replay(n, { maxSteps: 3 });
    assert.equal(r.kind, 'default');
    assert.equal(r.steps, 3);
    assert.equal(r.delivered, 1, 'only 0x2000 was reached');
    assert.equal(mr.translateCalls.length, 3);
    const stopped = assertError(r.stopped, 'replay-too-long');
    assert.match(stopped.message, /stopped after 3 of 16 translations at 0x3000/);
  });

  it('a replay that ends exactly at maxSteps is not reported as stopped', () => {
    const mr = replayModel();
    const r = mr.replay(notifier('n', IOMMU_NOTIFIER_MAP, 0n, 0xffffn, 0), { maxSteps: 16 });
    assert.equal(r.stopped, undefined);
    assert.equal(r.steps, 16);
  });

  it("uses the model's replay when it has one, and never translates", () => {
    class WithReplay extends TestIommu {
      readonly replayed: IOMMUNotifier[] = [];
      override modelReplay(n: IOMMUNotifier): ReplayResult {
        this.replayed.push(n);
        n.notify(n, { type: IOMMU_NOTIFIER_MAP, entry: entry(0x9000n, 0xfffn, IOMMU_RW, 0x1234000n) });
        return { kind: 'model', steps: 0, delivered: 1 };
      }
    }
    const mr = new WithReplay('model', 1n << 48n);
    const n = notifier('n', IOMMU_NOTIFIER_MAP);
    const r = mr.replay(n, { maxSteps: 1 });
    assert.deepEqual(r, { kind: 'model', steps: 0, delivered: 1 });
    assert.deepEqual(mr.replayed, [n]);
    assert.equal(mr.translateCalls.length, 0);
    assert.deepEqual(n.events.map((e) => e.entry.iova), [0x9000n]);
  });
});

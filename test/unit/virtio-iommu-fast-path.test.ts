/**
 * virtio-iommu's number fast path (numberTranslator) against probe() on random domains: random
 * request sequences (attach, detach, map with byte-granular ranges and outputs up to 2^64,
 * unmap, config.bypass) under both profiles, with reserved and MSI regions and several page
 * sizes; after every request, for both endpoints, at random addresses and at every mapping's
 * edges, for every access flag: the same output, page, permissions, target and fault, or a
 * decline only where the translator says it declines (outputs from 2^53, addresses from
 * 2^53 - 2, QEMU 7.2's lookup of [addr, addr + 1] just below a mapping).
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine';
import { newNumberEntry, numberProbe } from '../../src/engine/fast-path';
import type { Trace } from '../../src/engine/trace';
import type { VirtioIommuRequest } from '../../src/engine/models/virtio-iommu';
import { NET, NIC, rig } from './virtio-iommu-helpers';

const TWO53 = 1n << 53n;
const U64 = (1n << 64n) - 1n;

type Op = VirtioIommuRequest | { type: 'config-bypass'; value: number };

const domain = fc.integer({ min: 1, max: 2 });
const ep = fc.constantFrom(NIC, NET);
const addrArb = fc.oneof(fc.bigInt({ min: 0n, max: 0x40_0000n }), fc.bigInt({ min: TWO53 - 0x10000n, max: TWO53 + 0x10000n }), fc.bigInt({ min: 0n, max: U64 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('attach' as const), domain, endpoint: ep, flags: fc.constantFrom(0, 0, 0, 1) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('detach' as const), domain, endpoint: ep }) },
  {
    weight: 6,
    arbitrary: fc
      .record({ domain, start: addrArb, len: fc.oneof(fc.bigInt({ min: 0n, max: 0x8000n }), fc.constantFrom(0xfffn, 0x1fffn)), phys: fc.oneof(fc.bigInt({ min: 0n, max: 0x1_0000_0000n }), fc.bigInt({ min: TWO53 - 0x8000n, max: TWO53 }), fc.bigInt({ min: U64 - 0x8000n, max: U64 })), flags: fc.constantFrom(0, 1, 2, 3, 3, 3, 7) })
      .map((m) => ({ type: 'map' as const, domain: m.domain, virtStart: m.start, virtEnd: m.start + m.len > U64 ? U64 : m.start + m.len, physStart: m.phys, flags: m.flags })),
  },
  { weight: 2, arbitrary: fc.record({ domain, start: addrArb, len: fc.bigInt({ min: 0n, max: 0x10000n }) }).map((m) => ({ type: 'unmap' as const, domain: m.domain, virtStart: m.start, virtEnd: m.start + m.len > U64 ? U64 : m.start + m.len })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('config-bypass' as const), value: fc.constantFrom(0, 1) }) },
);

describe('virtio-iommu: the number fast path agrees with probe()', () => {
  it('on random request sequences: output, page, permissions, target and fault, declining only where it says', () => {
    let answered = 0;
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 4, maxLength: 24 }),
        fc.constantFrom('current' as const, 'qemu-7.2' as const),
        fc.boolean(),
        fc.constantFrom(4096n, 65536n),
        fc.array(fc.record({ at: fc.bigInt({ min: 0n, max: 0x40_0000n }), len: fc.bigInt({ min: 0n, max: 0x3000n }), type: fc.constantFrom('reserved' as const, 'msi' as const) }), { maxLength: 2 }),
        fc.array(addrArb, { minLength: 4, maxLength: 12 }),
        (ops, profile, bootBypass, granule, resv, probes) => {
          const reservedRegions = resv.map((r) => ({ low: r.at, high: r.at + r.len, type: r.type }));
          const { dev, nicR, netR } = rig({ profile, bootBypass, granule, reservedRegions });
          const out = newNumberEntry();
          const ref = newNumberEntry();
          for (const op of ops) {
            if (op.type === 'config-bypass') dev.setConfigBypass(op.value);
            else dev.request(op);
            for (const r of [nicR, netR]) {
              const t = r.numberTranslator(0);
              assert.ok(t !== undefined);
              const mappings = dev.endpoints.get(r.sid)?.domain?.mappings.all() ?? [];
              const addrs = [...probes];
              for (const m of mappings) for (const a of [m.low - 1n, m.low, m.low + 1n, m.high - 1n, m.high, m.high + 1n]) if (a >= 0n && a <= U64) addrs.push(a);
              for (const a of addrs) {
                if (a >= TWO53) continue;
                for (const flag of [IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW]) {
                  const where = `${profile} ep 0x${r.sid.toString(16)} flag ${flag} at 0x${a.toString(16)}`;
                  const refOk = numberProbe(r, undefined, a, flag, 0, {}, ref);
                  const ok = t.translate(Number(a), flag, out);
                  if (!ok) {
                    const holder = mappings.find((m) => m.low <= a && a <= m.high);
                    const allowed = !refOk || a >= TWO53 - 2n || (profile === 'qemu-7.2' && mappings.some((m) => m.low === a + 1n)) || (holder !== undefined && holder.phys >= TWO53);
                    assert.ok(allowed, `declined ${where}`);
                    continue;
                  }
                  answered++;
                  assert.ok(refOk, `answered where probe() has no number answer ${where}`);
                  const { fault, ...rest } = out;
                  const { fault: _f, ...refRest } = ref;
                  assert.deepEqual(rest, refRest, `entry ${where}`);
                  const trace: Trace = [];
                  r.probe(a, flag, 0, trace);
                  assert.equal(fault !== 0, trace.some((s) => s.kind === 'fault'), `fault ${where}`);
                }
              }
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    assert.ok(answered > 1000, `answered ${answered}`);
  });
});

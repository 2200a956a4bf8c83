/**
 * Property: whatever requests a driver sends, vfio's shadow (built from its replay, the MAP and
 * UNMAP events, and its listener's region_add/region_del as the endpoint enters and leaves
 * bypass) equals a fresh translation of the endpoint's domain, except exactly where QEMU's
 * semantics make vfio fail: an endpoint entering translation by ATTACH is replayed by vfio's
 * listener and then sent the same MAPs again, each refused with EEXIST, which the model
 * reports. MMIO-flagged and permissionless mappings are never sent to vfio, and are not
 * expected in its map.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { IOMMU_NONE } from '../../src/engine';
import { GTreeShape, VIRTIO_IOMMU_MAP_F_MMIO, mapPerm, pow2Chunks, type VirtioIommuRequest } from '../../src/engine/models/virtio-iommu';
import { NET, NIC, rig } from './virtio-iommu-helpers';
import { assertCovering } from './property-runs';

const PAGE = 0x1000n;

type Op = VirtioIommuRequest | { type: 'config-bypass'; value: number };

const domain = fc.integer({ min: 1, max: 2 });
const ep = fc.constantFrom(NIC, NET);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('attach' as const), domain, endpoint: ep, flags: fc.constantFrom(0, 0, 0, 0, 1) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('detach' as const), domain, endpoint: ep }) },
  {
    weight: 5,
    arbitrary: fc
      .record({ domain, page: fc.integer({ min: 0, max: 31 }), pages: fc.integer({ min: 1, max: 6 }), phys: fc.integer({ min: 0, max: 63 }), flags: fc.constantFrom(1, 2, 3, 3, 3, 7, 0) })
      .map((m) => ({ type: 'map' as const, domain: m.domain, virtStart: BigInt(m.page) * PAGE, virtEnd: BigInt(m.page + m.pages) * PAGE - 1n, physStart: 0x4000_0000n + BigInt(m.phys) * PAGE, flags: m.flags })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ domain, page: fc.integer({ min: 0, max: 31 }), pages: fc.integer({ min: 1, max: 12 }) })
      .map((m) => ({ type: 'unmap' as const, domain: m.domain, virtStart: BigInt(m.page) * PAGE, virtEnd: BigInt(m.page + m.pages) * PAGE - 1n })),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('config-bypass' as const), value: fc.constantFrom(0, 1) }) },
);

describe('virtio-iommu: properties', () => {
  it('vfio\'s shadow equals fresh translation after every request, and vfio fails exactly on the MAPs an ATTACH sends after its listener replayed them', () => {
    let sawEexist = 0;
    let sawShadow = 0;
    assertCovering(
      fc.property(fc.array(opArb, { minLength: 8, maxLength: 40 }), fc.boolean(), fc.constantFrom('current' as const, 'qemu-7.2' as const), (ops, bootBypass, profile) => {
        const { dev, nicR, vfio } = rig({ bootBypass, profile });
        for (const op of ops) {
          const wasOn = nicR.enabled;
          const hadDomain = dev.endpoints.get(NIC)?.domain !== undefined;
          const errorsBefore = vfio.received.filter((e) => e.error !== undefined).length;
          if (op.type === 'config-bypass') dev.setConfigBypass(op.value);
          else dev.request(op);
          const epNow = dev.endpoints.get(NIC);
          const dom = epNow?.domain;

          // Failures: only EEXIST, only on an ATTACH that brings the vfio endpoint out of bypass
          // once it is in the new domain: the listener's replay, then ATTACH's own MAPs, one
          // failure per chunk sent twice.
          const newErrors = vfio.received.filter((e) => e.error !== undefined).length - errorsBefore;
          assert.ok(vfio.received.every((e) => !e.error || e.error.startsWith('VFIO_MAP_DMA failed: File exists')));
          let expected = 0;
          // Bypassed just before ATTACH's own switch: after its detach from the old domain (then
          // config.bypass decides), or all along if it had none.
          const bypassedBeforeSwitch = hadDomain ? dev.config.bypass : !wasOn;
          if (op.type === 'attach' && op.endpoint === NIC && bypassedBeforeSwitch && nicR.enabled && dom && dom.id === op.domain) {
            for (const m of dom.mappings.all()) if (!(m.flags & VIRTIO_IOMMU_MAP_F_MMIO) && mapPerm(m.flags)) expected += pow2Chunks(m.low, m.high).length;
          }
          sawEexist += newErrors;
          assert.equal(newErrors, expected, `${JSON.stringify(op, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`);

          // Sound: every page vfio maps translates (uncached, no fault recorded) to what it holds.
          const shadow = vfio.shadow!;
          if (!nicR.enabled) assert.equal(shadow.size, 0, 'a bypassed endpoint leaves vfio nothing of the IOMMU section');
          sawShadow += shadow.size;
          const held = new Map<bigint, { out: bigint; perm: number }>();
          for (const e of shadow.values()) {
            for (let a = 0n; a < e.size; a += PAGE) {
              held.set(e.iova + a, { out: e.translated + a, perm: e.perm });
              const t = nicR.probe(e.iova + a, IOMMU_NONE, 0);
              assert.equal(t.perm, e.perm, `vfio holds ${e.iova + a} ${e.perm}; translation says ${t.perm}`);
              assert.equal(t.translatedAddr, e.translated + a);
            }
          }
          // Complete: every page the endpoint's domain maps for vfio is in its map.
          if (nicR.enabled && dom && !dom.bypass) {
            for (const m of dom.mappings.all()) {
              if (m.flags & VIRTIO_IOMMU_MAP_F_MMIO || !mapPerm(m.flags)) continue;
              for (let a = m.low; a <= m.high; a += PAGE) {
                assert.deepEqual(held.get(a), { out: m.phys + (a - m.low), perm: mapPerm(m.flags) }, `page ${a} of domain ${dom.id}`);
              }
            }
          }
        }
      }),
      { numRuns: 300, seed: 1 },
    );
    // The runs reached what the property is about: vfio held mappings, and refused duplicates.
    assert.ok(sawEexist > 0 && sawShadow > 0, `EEXIST ${sawEexist}, shadow pages ${sawShadow}`);
  });

  it('the GTree shape stays a valid AVL tree in key order through random inserts and removes, and a lookup meets an equal key when there is one', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 300 }), (ops) => {
        const t = new GTreeShape<number>((a, b) => a - b);
        const set = new Set<number>();
        for (const [add, k] of ops) {
          if (add) {
            t.insert(k);
            set.add(k);
          } else assert.equal(t.remove(k), set.delete(k));
          const { ok, keys } = t.check();
          assert.ok(ok);
          assert.deepEqual(keys, [...set].sort((a, b) => a - b));
          assert.equal(t.find(k), set.has(k) ? k : undefined);
        }
      }),
      { numRuns: 200 },
    );
  });
});

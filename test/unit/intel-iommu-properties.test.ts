/**
 * The shadow property for VT-d: for random tables from the builder (3 or 4 levels, 4 KiB and
 * 2 MiB leaves, RO and RW) and random sequences of guest changes (a leaf moved, made RO or RW, or
 * cleared) each followed or not by an invalidation (page-selective with the leaf's AM,
 * domain-selective, global or a context-cache one, queued or register-based), a vfio shadow built
 * from replay plus events equals a fresh walk of the tables whenever the guest invalidated what it
 * changed; when it did not, the shadow checker names exactly the stale leaves.
 *
 * The test keeps its own oracle: what the guest wrote (the tables) and what it last invalidated
 * (what vfio should have been told), leaf by leaf. Write-only leaves are left out: QEMU's
 * translate with IOMMU_NONE checks read permission, so the checker would see them as unmapped.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { Machine } from '../../src/engine/machine';
import { checkShadows } from '../../src/engine/shadows';
import type { ModelCommand } from '../../src/engine/device';
import { IOMMU_NOTIFIER_IOTLB_EVENTS, type IOMMUTLBEntry } from '../../src/engine/iotlb';
import { isEngineError } from '../../src/engine/errors';
import { build, notifier, r64, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18;

interface Leaf {
  readonly iova: bigint;
  readonly size: bigint;
  pa: bigint;
  perm: number;
}

const slot = fc.record({ index: fc.integer({ min: 0, max: 15 }), large: fc.boolean(), pages: fc.integer({ min: 1, max: 3 }), pa: fc.integer({ min: 1, max: 200 }), rw: fc.boolean() });
const change = fc.record({
  leaf: fc.nat(),
  kind: fc.constantFrom('move', 'perm', 'clear'),
  pa: fc.integer({ min: 1, max: 200 }),
  inv: fc.constantFrom('page', 'domain', 'global', 'context', 'none'),
});

function leafAddr(r: Rig, slpt: bigint, levels: number, iova: bigint, size: bigint): bigint {
  let table = slpt;
  const leafLevel = size === 0x20_0000n ? 2 : 1;
  for (let lv = levels; lv > leafLevel; lv--) table = r64(r, table + ((iova >> (12n + 9n * BigInt(lv - 1))) & 511n) * 8n) & ~0xfffn;
  return table + ((iova >> (12n + 9n * BigInt(leafLevel - 1))) & 511n) * 8n;
}

function key(e: { iova: bigint; addrMask?: bigint; size?: bigint; translatedAddr?: bigint; translated?: bigint; perm: number }): string {
  return `${e.iova.toString(16)}/${(e.size ?? e.addrMask! + 1n).toString(16)}->${(e.translated ?? e.translatedAddr!).toString(16)}:${e.perm}`;
}

describe('intel-iommu: vfio shadows (property)', () => {
  it('replay + events equal a fresh walk when every change was invalidated; otherwise the checker names exactly the stale leaves', () => {
    fc.assert(
      fc.property(fc.array(slot, { minLength: 1, maxLength: 8 }), fc.array(change, { maxLength: 12 }), fc.boolean(), fc.boolean(), fc.boolean(), (slots, changes, aw39, queued, old) => {
        const r = rig({ cachingMode: true, profile: old ? 'qemu-7.2' : 'architecture', awBits: aw39 ? 39 : 48 });
        // Mappings: slot i is the 2 MiB region at 0x4000_0000 + i * 2 MiB: one 2 MiB leaf, or 1-3 pages.
        const leaves: Leaf[] = [];
        const seen = new Set<number>();
        for (const s of slots) {
          if (seen.has(s.index)) continue;
          seen.add(s.index);
          const base = 0x4000_0000n + BigInt(s.index) * 0x20_0000n;
          const perm = s.rw ? 3 : 1;
          if (s.large) leaves.push({ iova: base, size: 0x20_0000n, pa: BigInt(s.pa) * 0x20_0000n, perm });
          else for (let p = 0; p < s.pages; p++) leaves.push({ iova: base + BigInt(p) * 0x1000n, size: 0x1000n, pa: BigInt(s.pa) * 0x20_0000n + BigInt(p) * 0x1000n, perm });
        }
        const b = build(r, [[SID, { domain: 1, awBits: aw39 ? 39 : 48, map: leaves.map((l) => ({ iova: l.iova, size: l.size, pa: l.pa, perm: l.perm })) }]], { queue: queued });
        const slpt = b.devices.get(SID)!.slptptr!;
        const levels = aw39 ? 3 : 4;
        const vfio = notifier(r, SID, IOMMU_NOTIFIER_IOTLB_EVENTS, { replay: true, kind: 'vfio' });
        // Oracle: what vfio was told, per leaf.
        const told = new Map(leaves.map((l) => [l.iova, { pa: l.pa, perm: l.perm }]));
        const stale = new Set<bigint>();
        const issue = (c: ModelCommand) => {
          const res = r.iommu.issueCommands([c]);
          if (isEngineError(res)) throw new Error(res.message);
          assert.ok(res.every((e) => e.error === 0), JSON.stringify(res));
        };
        for (const c of changes) {
          const leaf = leaves[c.leaf % leaves.length]!;
          const at = leafAddr(r, slpt, levels, leaf.iova, leaf.size);
          if (c.kind === 'clear') leaf.perm = 0;
          else if (c.kind === 'perm') leaf.perm = leaf.perm === 3 ? 1 : 3;
          else {
            leaf.pa = leaf.size === 0x1000n ? 0x800_0000n + BigInt(c.pa) * 0x1000n : BigInt(c.pa) * 0x20_0000n;
            if (leaf.perm === 0) leaf.perm = 1;
          }
          w64(r, at, leaf.perm === 0 ? 0n : leaf.pa | BigInt(leaf.perm) | (leaf.size === 0x1000n ? 0n : 0x80n));
          stale.add(leaf.iova);
          if (c.inv === 'none') continue;
          if (c.inv === 'page') issue({ op: 'IOTLB_PAGE', did: 1, addr: leaf.iova, am: leaf.size === 0x1000n ? 0 : 9 });
          else if (c.inv === 'domain') issue({ op: 'IOTLB_DOMAIN', did: 1 });
          else if (c.inv === 'global') issue({ op: 'IOTLB_GLOBAL' });
          else issue({ op: 'CC_GLOBAL' });
          const covered = c.inv === 'page' ? [leaf] : leaves;
          for (const l of covered) {
            if (!stale.has(l.iova)) continue;
            stale.delete(l.iova);
            told.set(l.iova, { pa: l.pa, perm: l.perm });
          }
        }
        // What vfio was told must be what its shadow holds.
        const shadow = [...vfio.shadow!.values()].map(key).sort();
        const want = leaves.filter((l) => told.get(l.iova)!.perm !== 0).map((l) => key({ iova: l.iova, size: l.size, translated: told.get(l.iova)!.pa, perm: told.get(l.iova)!.perm })).sort();
        assert.deepEqual(shadow, want);
        const walk: IOMMUTLBEntry[] = [];
        r.iommu.regionFor(SID).enumerateMappings(0, (e) => walk.push(e));
        const fresh = walk.map(key).sort();
        const m = new Machine('t');
        m.addRegistrations([vfio]);
        const divergences = checkShadows(m);
        // Stale leaves: changed and not invalidated, and different from what vfio was told.
        const staleNow = leaves.filter((l) => stale.has(l.iova) && told.get(l.iova)!.perm !== 0 && (told.get(l.iova)!.pa !== l.pa || told.get(l.iova)!.perm !== l.perm));
        if (staleNow.length === 0) {
          assert.deepEqual(divergences, []);
          if (leaves.every((l) => !stale.has(l.iova) || (told.get(l.iova)!.pa === l.pa && told.get(l.iova)!.perm === l.perm) || told.get(l.iova)!.perm === 0)) {
            // Unchanged-but-newly-mapped leaves (cleared and remapped without invalidation) are not in the shadow.
            const pending = leaves.filter((l) => stale.has(l.iova) && told.get(l.iova)!.perm === 0 && l.perm !== 0).map((l) => l.iova);
            assert.deepEqual(fresh.filter((k) => !pending.some((p) => k.startsWith(`${p.toString(16)}/`))), shadow);
          }
        } else {
          const named = divergences.map((d) => [d.iova, d.size, d.kind] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
          const expected = staleNow
            .map((l) => [l.iova, l.size, l.perm === 0 ? 'unmapped' : told.get(l.iova)!.pa !== l.pa ? 'moved' : 'permission'] as const)
            .sort((a, b) => (a[0] < b[0] ? -1 : 1));
          assert.deepEqual(named, expected);
        }
      }),
      { numRuns: 80 },
    );
  });
});

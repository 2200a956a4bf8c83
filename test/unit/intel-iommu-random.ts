/**
 * What the VT-d fast-path property tests share: random mappings for the table builder, the
 * profile rules a random set-up must keep (first stage in the architecture profile only, with
 * aw-bits 48 or 57; no 57-bit tables in QEMU 7.2; a device no wider than its unit), and the tables
 * they build: the device SID with PASIDs 5 (as the device) and 7 (pass-through) in scalable mode,
 * and a pass-through device PT_SID.
 */
import fc from 'fast-check';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { buildVtdTables, type VtdBuildMapping, type VtdBuildResult, type VtdProfile } from '../../src/engine/models/intel-iommu';
import { ROOT, program, type Rig } from './intel-iommu-helpers';

export const SID = 0x18;
export const PT_SID = 0x20;
export const ABSENT_SID = 0x28;
export const GIB = 1n << 30n;
const SIZES = [0x1000n, 0x20_0000n, GIB];
export const FLAGS = [IOMMU_NONE, IOMMU_RO, IOMMU_WO, IOMMU_RW] as const;

export interface RandomMap {
  slot: number;
  size: number;
  page: number;
  perm: number;
  irq: boolean;
}

/**
 * Up to `maxLength` mappings, one per 1 GiB slot: most in the first 31 GiB, some anywhere below
 * 2^57 (randomMappings keeps them within the device's width), so that every level's index bits
 * are exercised, the upper levels' too.
 */
export function randomMapsArb(maxLength: number): fc.Arbitrary<RandomMap[]> {
  const slot = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 30 }), weight: 3 }, { arbitrary: fc.integer({ min: 31, max: 2 ** 27 - 1 }), weight: 1 });
  return fc.uniqueArray(fc.record({ slot, size: fc.integer({ min: 0, max: 2 }), page: fc.integer({ min: 0, max: 511 }), perm: fc.integer({ min: 1, max: 3 }), irq: fc.integer({ min: 0, max: 7 }).map((x) => x === 0) }), {
    minLength: 1,
    maxLength,
    selector: (m) => m.slot,
  });
}

export interface RandomUnit {
  readonly profile: VtdProfile;
  readonly awBits: 39 | 48 | 57;
  readonly devAw: 39 | 48 | 57;
  readonly scalable: boolean;
  /** x-flts with first-stage tables (PGTT=001b) for the device and PASID 5. */
  readonly fs: boolean;
}

/** The unit a random draw stands for, within what the model accepts. */
export function randomUnit(c: { old: boolean; awBits: 39 | 48 | 57; devAw: 39 | 48 | 57; scalable: boolean; fs: boolean }): RandomUnit {
  if (c.fs) {
    const awBits = c.awBits === 39 ? 48 : c.awBits;
    const devAw = c.devAw === 39 ? 48 : c.devAw;
    return { profile: 'architecture', awBits, devAw, scalable: true, fs: true };
  }
  const profile: VtdProfile = c.old ? 'qemu-7.2' : 'architecture';
  const awBits = c.old && c.awBits === 57 ? 48 : c.awBits;
  return { profile, awBits, devAw: c.devAw > awBits ? awBits : c.devAw, scalable: c.scalable, fs: false };
}

/** The mappings of `c.maps` within the device's width (first stage: its lower canonical half), one per 1 GiB slot there. */
export function randomMappings(c: RandomUnit & { readonly maps: readonly RandomMap[] }): VtdBuildMapping[] {
  const width = (1n << BigInt(c.fs ? c.devAw - 1 : c.devAw)) - 1n;
  const slots = new Set<bigint>();
  const out: VtdBuildMapping[] = [];
  for (const m of c.maps) {
    const size = SIZES[m.size]!;
    const base = (BigInt(m.slot) * GIB) & width;
    if (slots.has(base)) continue;
    slots.add(base);
    const iova = base + (size === GIB ? 0n : BigInt(m.page) * size);
    // Outputs below 2^38, some on the interrupt range's page (a fault the walk finds after the leaf).
    const pa = m.irq && size === 0x1000n ? 0xfee0_0000n : (BigInt(m.slot * 7 + m.page) * size) % (1n << 38n);
    // First-stage tables: no write-only entries (present is readable).
    out.push({ iova, size, pa, perm: c.fs && m.perm === 2 ? 3 : m.perm });
  }
  return out;
}

/** Builds the set-up's tables into the rig's RAM at ROOT and programs the unit with them. */
export function buildRandomTables(r: Rig, c: RandomUnit, map: VtdBuildMapping[], enable?: boolean): VtdBuildResult {
  const tr = c.fs ? ('first-stage' as const) : undefined;
  const res = buildVtdTables({
    memory: r.ram.backing,
    memoryBase: 0n,
    at: ROOT,
    scalable: c.scalable,
    enable,
    devices: [
      [SID, { domain: 3, awBits: c.devAw, translation: tr, map, pasids: c.scalable ? [[5, { domain: 6, awBits: c.devAw, translation: tr, map: map.slice(0, 3) }], [7, { domain: 7, translation: 'pass-through' }]] : undefined }],
      [PT_SID, { domain: 4, translation: 'pass-through' }],
    ],
  });
  if ('error' in res) throw new Error(res.message);
  program(r, res.registers);
  return res;
}

/**
 * Config builder for the Arm SMMUv3 (hw/arm/smmuv3.c): `walk-memory` (where the SMMU reads its
 * tables), an optional `build` that writes a stream table, CDs and page tables into a RAM region
 * and programs the registers to use them, initial `registers`, the `profile` and the IOTLB size.
 * Devices reach it with `iommu: <name>` and their bdf: each requester ID gets its own region.
 */
import {
  IOMMU_NONE,
  IOMMU_RO,
  IOMMU_RW,
  IOMMU_WO,
  hex,
  isEngineError,
  type AddressSpace,
  type IommuDevice,
} from '../../engine';
import {
  Smmuv3,
  buildSmmuTables,
  type BuildMapping,
  type BuildStage1,
  type BuildStage2,
  type BuildStream,
  type Smmuv3Profile,
  type Smmuv3RegisterWrite,
} from '../../engine/models/smmuv3';
import { entries, list, obj, own, type BuildContext } from '../context';
import type { Path } from '../document';
import { parseConfigNumber } from '../numbers';
import { tablesArea } from './placement';

const PERMS: Readonly<Record<string, number>> = { rw: IOMMU_RW, ro: IOMMU_RO, wo: IOMMU_WO, none: IOMMU_NONE };

/** The table builder's error codes, as config diagnostics. */
const BUILD_CODES: Readonly<Record<string, string>> = {
  'smmuv3-overlap': 'mapping-overlap',
  'smmuv3-alignment': 'size-alignment',
  'smmuv3-range': 'address-range',
  'smmuv3-build': 'bad-value',
};
const U16 = 1n << 16n;

export function buildSmmuv3(ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path): IommuDevice | undefined {
  const memory = ctx.addressSpace(spec['walk-memory'], [...path, 'walk-memory'], `for ${name}'s walk memory`);
  const downstream = spec.downstream !== undefined ? ctx.addressSpace(spec.downstream, [...path, 'downstream'], `for ${name}'s output`) : undefined;
  const profile = spec.profile === 'qemu-7.2' ? 'qemu-7.2' : ('architecture' as Smmuv3Profile);
  const iotlb = spec['iotlb-size'];
  const iotlbSize = typeof iotlb === 'number' && Number.isInteger(iotlb) && iotlb >= 0 ? iotlb : undefined;
  if (!memory) return undefined;

  let writes: Smmuv3RegisterWrite[] = [];
  const streamSources = new Map<number, string>();
  const build = obj(spec.build);
  if (build) {
    const regs = buildTables(ctx, name, build, [...path, 'build'], memory, streamSources);
    if (regs) writes.push(...regs);
  }
  // `registers:` overrides what the build programs; CR0 goes last, after everything it enables.
  const regSpec = obj(spec.registers) ?? {};
  for (const [k, v] of entries(regSpec)) {
    if (k === 'as' || k === 'at') continue;
    const value = ctx.num(v, [...path, 'registers', k], undefined, 1n << 64n);
    if (value === undefined) continue;
    const reg = k.toUpperCase().replace(/-/g, '_');
    if (reg === 'GBPA' && profile === 'qemu-7.2') {
      ctx.warn('ignored-key', [...path, 'registers', k], 'QEMU 7.2 has no GBPA register: the write is ignored and a disabled SMMU always bypasses', 'key');
      continue;
    }
    writes = writes.filter((w) => w.reg !== reg);
    writes.push({ reg, value: reg === 'GBPA' ? value | 0x8000_0000n : value });
  }
  writes = [...writes.filter((w) => w.reg !== 'CR0'), ...writes.filter((w) => w.reg === 'CR0')];

  const dev = Smmuv3.create({ name, memory, downstream, profile, iotlbSize, registers: writes, source: ctx.id(path), streamSources });
  if (isEngineError(dev)) {
    ctx.error(dev.code === 'smmuv3-register' ? 'bad-value' : dev.code, [...path, dev.code === 'smmuv3-register' ? 'registers' : 'iotlb-size'], dev.message);
    return undefined;
  }
  return dev;
}

/** Runs the table builder; returns the register writes it needs, or undefined after reporting. */
function buildTables(
  ctx: BuildContext,
  name: string,
  b: Record<string, unknown>,
  path: Path,
  memory: AddressSpace,
  streamSources: Map<number, string>,
): Smmuv3RegisterWrite[] | undefined {
  const at = tablesArea(ctx, name, b, path, memory, 'the SMMU tables');
  if (!at) return undefined;

  const streams: Array<[number, BuildStream]> = [];
  const keys = new Map<number, string>();
  for (const [key, raw] of entries(b.streams)) {
    const sp: Path = [...path, 'streams', key];
    const r = parseConfigNumber(key, U16);
    if (!r.ok) {
      ctx.error(r.code, sp, `stream ID "${key}": ${r.message}`, 'key');
      continue;
    }
    const sid = Number(r.value);
    if (keys.has(sid)) {
      ctx.error('duplicate-name', sp, `stream ${hex(sid)} is already given as "${keys.get(sid)}"`, 'key');
      continue;
    }
    keys.set(sid, key);
    streamSources.set(sid, ctx.id(sp));
    const s = parseStream(ctx, obj(raw) ?? {}, sp);
    if (s) streams.push([sid, s]);
  }

  const two = b['two-level'];
  const twoLevel = two === true ? true : typeof obj(two)?.split === 'number' ? { split: obj(two)!.split as number } : undefined;
  const q = b.queues;
  const queues =
    q === false
      ? (false as const)
      : obj(q)
        ? { cmdqLog2: numberOr(obj(q)!['cmdq-log2']), eventqLog2: numberOr(obj(q)!['eventq-log2']) }
        : undefined;
  const res = buildSmmuTables({ memory: at.region.backing, memoryBase: at.base, at: at.offset, limit: at.limit, streams, twoLevel, queues });
  if (isEngineError(res)) {
    // Point at the stream the message names, when it names one.
    const m = /^stream (0x[0-9a-f]+):/.exec(res.message);
    const key = m ? keys.get(Number(m[1])) : undefined;
    ctx.error(BUILD_CODES[res.code] ?? 'bad-value', key !== undefined ? [...path, 'streams', key] : path, `${name}: ${res.message}`);
    return undefined;
  }
  return [...res.registers];
}

function numberOr(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}



function parseStream(ctx: BuildContext, s: Record<string, unknown>, path: Path): BuildStream | undefined {
  const config = s.config === 'bypass' || s.config === 'abort' || s.config === 'translate' ? s.config : undefined;
  let ok = true;
  let stage1: BuildStage1 | undefined;
  let stage2: BuildStage2 | undefined;
  const s1 = obj(s.stage1);
  if (s1) {
    const p: Path = [...path, 'stage1'];
    const granule = ctx.num(s1.granule, [...p, 'granule']);
    const asid = ctx.num(s1.asid, [...p, 'asid'], undefined, U16);
    const map = mappings(ctx, s1.map, [...p, 'map'], 'iova');
    const t1 = obj(s1.ttb1);
    let ttb1: BuildStage1['ttb1'];
    if (t1) {
      const g1 = t1.granule === undefined ? undefined : ctx.num(t1.granule, [...p, 'ttb1', 'granule']);
      const m1 = mappings(ctx, t1.map, [...p, 'ttb1', 'map'], 'iova');
      if (m1 && typeof t1.t1sz === 'number') ttb1 = { t1sz: t1.t1sz, granule: g1, map: m1 };
      else ok = false;
    }
    if (granule === undefined || asid === undefined || !map || typeof s1.t0sz !== 'number') ok = false;
    else {
      stage1 = {
        granule,
        t0sz: s1.t0sz,
        asid: Number(asid),
        map,
        ttb1,
        recordFaults: s1['record-faults'] === false ? false : undefined,
        affd: s1.affd === true,
        ips: typeof s1.ips === 'number' ? s1.ips : undefined,
        blocks: s1.blocks === false ? false : undefined,
      };
    }
  }
  const s2 = obj(s.stage2);
  if (s2) {
    const p: Path = [...path, 'stage2'];
    const granule = ctx.num(s2.granule, [...p, 'granule']);
    const vmid = ctx.num(s2.vmid, [...p, 'vmid'], undefined, U16);
    const map = mappings(ctx, s2.map, [...p, 'map'], 'ipa');
    if (granule === undefined || vmid === undefined || !map || typeof s2.t0sz !== 'number') ok = false;
    else {
      stage2 = {
        granule,
        t0sz: s2.t0sz,
        sl0: typeof s2.sl0 === 'number' ? s2.sl0 : undefined,
        vmid: Number(vmid),
        map,
        recordFaults: s2['record-faults'] === false ? false : undefined,
        affd: s2.affd === true,
        ps: typeof s2.ps === 'number' ? s2.ps : undefined,
        blocks: s2.blocks === false ? false : undefined,
      };
    }
  }
  return ok ? { config, stage1, stage2 } : undefined;
}

function mappings(ctx: BuildContext, raw: unknown, path: Path, inputKey: 'iova' | 'ipa'): BuildMapping[] | undefined {
  const out: BuildMapping[] = [];
  let ok = true;
  list(raw).forEach((r, i) => {
    const m = obj(r);
    if (!m) return;
    const mp: Path = [...path, i];
    const iova = ctx.num(m[inputKey], [...mp, inputKey]);
    const size = ctx.size(m.size, [...mp, 'size'], 'a mapping');
    const pa = ctx.num(m.pa, [...mp, 'pa']);
    const perm = typeof m.perm === 'string' ? own(PERMS, m.perm) : undefined;
    if (iova === undefined || size === undefined || pa === undefined || perm === undefined) {
      ok = false;
      return;
    }
    out.push({ iova, size, pa, perm, af: m.af === false ? false : undefined });
  });
  return ok ? out : undefined;
}

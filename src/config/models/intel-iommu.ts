/**
 * Config builder for the Intel VT-d IOMMU (hw/i386/intel_iommu.c, legacy mode): `walk-memory`
 * (where it reads root, context and page tables and its invalidation queue: QEMU's
 * address_space_memory), QEMU's device properties (aw-bits, caching-mode, device-iotlb, pt,
 * snoop-control, intremap), the `profile`, an optional `build` that writes the tables for given
 * devices and mappings into RAM and programs the registers as a driver does, and initial
 * `registers` (written after the build, in order). Devices reach it with `iommu: <name>` and
 * their bdf: each (bus, devfn) gets its own region.
 */
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO, isEngineError, type AddressSpace, type IommuDevice } from '../../engine';
import { IntelIommu, buildVtdTables, type VtdBuildDevice, type VtdBuildMapping, type VtdBuildPasid, type VtdProfile, type VtdRegisterWrite } from '../../engine/models/intel-iommu';
import { entries, list, obj, type BuildContext } from '../context';
import type { Path } from '../document';
import { parseConfigNumber } from '../numbers';
import { tablesArea } from './placement';

const PERMS: Readonly<Record<string, number>> = { rw: IOMMU_RW, ro: IOMMU_RO, wo: IOMMU_WO, none: IOMMU_NONE };
const BUILD_CODES: Readonly<Record<string, string>> = {
  'vtd-overlap': 'mapping-overlap',
  'vtd-alignment': 'size-alignment',
  'vtd-range': 'address-range',
  'vtd-build': 'bad-value',
};

const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

export function buildIntelIommu(ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path): IommuDevice | undefined {
  const memory = ctx.addressSpace(spec['walk-memory'], [...path, 'walk-memory'], `for ${name}'s walk memory`);
  const downstream = spec.downstream !== undefined ? ctx.addressSpace(spec.downstream, [...path, 'downstream'], `for ${name}'s output`) : undefined;
  const profile: VtdProfile = spec.profile === 'qemu-7.2' ? 'qemu-7.2' : 'architecture';
  const aw = typeof spec['aw-bits'] === 'number' ? spec['aw-bits'] : undefined;
  const iotlb = spec['iotlb-size'];
  const iotlbSize = typeof iotlb === 'number' && Number.isInteger(iotlb) && iotlb >= 0 ? iotlb : undefined;
  if (!memory) return undefined;

  const writes: VtdRegisterWrite[] = [];
  const build = obj(spec.build);
  if (build) {
    // A device's tables default to the unit's own address width (QEMU's aw-bits: 39 in 7.2, else
    // 48), as a guest driver picks an AGAW the unit's SAGAW offers.
    const unitAw = aw ?? (profile === 'qemu-7.2' ? 39 : 48);
    const regs = buildTables(ctx, name, build, [...path, 'build'], memory, spec['scalable-mode'] === true, profile, unitAw);
    if (regs) writes.push(...regs);
  }
  for (const [k, v] of entries(obj(spec.registers) ?? {})) {
    if (k === 'as' || k === 'at') continue;
    const value = ctx.num(v, [...path, 'registers', k], undefined, 1n << 64n);
    if (value !== undefined) writes.push({ reg: k.toUpperCase().replace(/-/g, '_'), value });
  }
  const dev = IntelIommu.create({
    name,
    memory,
    downstream,
    profile,
    awBits: aw,
    cachingMode: bool(spec['caching-mode']),
    deviceIotlb: bool(spec['device-iotlb']),
    passThrough: bool(spec.pt),
    snoopControl: bool(spec['snoop-control']),
    intremap: bool(spec.intremap),
    scalableMode: bool(spec['scalable-mode']),
    pasidMode: bool(spec['pasid-mode']),
    firstStage: bool(spec.flts),
    dmaDrain: bool(spec['dma-drain']),
    iotlbSize,
    registers: writes,
    source: ctx.id(path),
  });
  if (isEngineError(dev)) {
    const at = dev.code === 'vtd-aw-bits' ? 'aw-bits' : dev.code === 'vtd-iotlb-size' ? 'iotlb-size' : dev.code === 'vtd-scalable' ? 'scalable-mode' : dev.code === 'vtd-pasid' ? 'pasid-mode' : dev.code === 'vtd-flts' ? 'flts' : 'registers';
    ctx.error(dev.code === 'vtd-register' ? 'bad-value' : 'bad-value', [...path, at], dev.message);
    return undefined;
  }
  return dev;
}

/** `00:03.0` or a requester-ID number. */
function parseBdf(key: string): number | undefined {
  const m = /^([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(key.trim());
  if (m) {
    const dev = parseInt(m[2]!, 16);
    return dev > 0x1f ? undefined : (parseInt(m[1]!, 16) << 8) | (dev << 3) | parseInt(m[3]!, 10);
  }
  const r = parseConfigNumber(key, 1n << 16n);
  return r.ok ? Number(r.value) : undefined;
}

function buildTables(ctx: BuildContext, name: string, b: Record<string, unknown>, path: Path, memory: AddressSpace, scalable: boolean, profile: VtdProfile, unitAw: number): VtdRegisterWrite[] | undefined {
  const at = tablesArea(ctx, name, b, path, memory, 'the VT-d tables');
  if (!at) return undefined;
  const devices: Array<[number, VtdBuildDevice]> = [];
  const keys = new Map<number, string>();
  let ok = true;
  for (const [key, raw] of entries(b.devices)) {
    const dp: Path = [...path, 'devices', key];
    const sid = parseBdf(key);
    if (sid === undefined) {
      ctx.error('bad-value', dp, `"${key}" is not a PCI bus:device.function (device 0..1f, function 0..7) or a requester ID`, 'key');
      ok = false;
      continue;
    }
    if (keys.has(sid)) {
      ctx.error('duplicate-name', dp, `${key} is the device "${keys.get(sid)}" again`, 'key');
      continue;
    }
    keys.set(sid, key);
    const d = obj(raw) ?? {};
    const domain = ctx.num(d.domain, [...dp, 'domain'], 1n, 1n << 16n);
    const map = mappings(ctx, d.map, [...dp, 'map']);
    let shareWith: number | undefined;
    if (typeof d['share-with'] === 'string') {
      shareWith = parseBdf(d['share-with']);
      if (shareWith === undefined) ctx.error('bad-value', [...dp, 'share-with'], `"${d['share-with']}" is not a bus:device.function`);
    }
    if (domain === undefined || !map) {
      ok = false;
      continue;
    }
    const tr = d.translation;
    const pasids: Array<[number, VtdBuildPasid]> = [];
    for (const [pk, praw] of entries(d.pasids)) {
      const pp: Path = [...dp, 'pasids', pk];
      const pasid = parseConfigNumber(pk, 1n << 20n);
      const pd = obj(praw) ?? {};
      const pdomain = ctx.num(pd.domain, [...pp, 'domain'], undefined, 1n << 16n);
      const pmap = mappings(ctx, pd.map, [...pp, 'map']);
      if (!pasid.ok) ctx.error('bad-value', pp, `"${pk}" is not a PASID (0..0xfffff)`, 'key');
      else if (profile === 'qemu-7.2') {
        ctx.warn(
          'profile-difference',
          pp,
          `QEMU 7.2 creates no PASID address space (vtd_find_add_as is only called with PCI_NO_PASID, and MemTxAttrs carries no PASID): PASID ${pk}'s entry is written, but no DMA in QEMU 7.2 goes through it`,
          'key',
        );
      }
      if (!pasid.ok || pdomain === undefined || !pmap) {
        ok = false;
        continue;
      }
      pasids.push([
        Number(pasid.value),
        {
          domain: Number(pdomain),
          translation: pd.translation === 'pass-through' || pd.translation === 'first-stage' ? pd.translation : 'translate',
          // First-stage tables have 4 or 5 levels whatever the device's second-stage width: 4 by default.
          awBits: typeof pd['aw-bits'] === 'number' ? pd['aw-bits'] : pd.translation === 'first-stage' ? 48 : undefined,
          fpd: pd.fpd === true,
          largePages: pd['large-pages'] === false ? false : undefined,
          map: pmap,
        },
      ]);
    }
    devices.push([
      sid,
      {
        domain: Number(domain),
        translation: tr === 'pass-through' || tr === 'device-iotlb' || tr === 'first-stage' ? tr : 'translate',
        awBits: typeof d['aw-bits'] === 'number' ? d['aw-bits'] : d.translation === 'first-stage' ? undefined : unitAw,
        fpd: d.fpd === true,
        largePages: d['large-pages'] === false ? false : undefined,
        shareWith,
        map,
        pasids: pasids.length ? pasids : undefined,
      },
    ]);
  }
  if (!ok) return undefined;
  const q = b.queue;
  const queue = q === false ? (false as const) : obj(q) ? { qs: typeof obj(q)!.qs === 'number' ? (obj(q)!.qs as number) : undefined, dw: obj(q)!.dw === true } : undefined;
  const res = buildVtdTables({ memory: at.region.backing, memoryBase: at.base, at: at.offset, limit: at.limit, devices, queue, enable: b.enable === false ? false : undefined, scalable });
  if (isEngineError(res)) {
    const m = /^device ([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/.exec(res.message);
    const sid = m ? parseBdf(m[1]!) : undefined;
    const key = sid !== undefined ? keys.get(sid) : undefined;
    ctx.error(BUILD_CODES[res.code] ?? 'bad-value', key !== undefined ? [...path, 'devices', key] : path, `${name}: ${res.message}`);
    return undefined;
  }
  return [...res.registers];
}


function mappings(ctx: BuildContext, raw: unknown, path: Path): VtdBuildMapping[] | undefined {
  const out: VtdBuildMapping[] = [];
  let ok = true;
  list(raw).forEach((r, i) => {
    const m = obj(r);
    if (!m) return;
    const mp: Path = [...path, i];
    const iova = ctx.num(m.iova, [...mp, 'iova']);
    const size = ctx.size(m.size, [...mp, 'size'], 'a mapping');
    const pa = ctx.num(m.pa, [...mp, 'pa']);
    const perm = typeof m.perm === 'string' ? PERMS[m.perm] : undefined;
    if (iova === undefined || size === undefined || pa === undefined || perm === undefined) {
      ok = false;
      return;
    }
    out.push({ iova, size, pa, perm });
  });
  return ok ? out : undefined;
}

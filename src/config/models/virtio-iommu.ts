/**
 * Config builder for virtio-iommu (hw/virtio/virtio-iommu.c): the output address space, the
 * profile, boot-bypass, granule, aw-bits, domain range and reserved regions. Devices reach it
 * with `iommu: <name>` and their bdf: each requester ID is an endpoint with its own region.
 * Its schema part is in virtio-iommu.schema.ts.
 */
import { isEngineError, type IommuDevice } from '../../engine';
import { VirtioIommu, type ReservedRegion } from '../../engine/models/virtio-iommu';
import { list, obj, type BuildContext } from '../context';
import type { Path } from '../document';

const GRANULES: Readonly<Record<string, bigint>> = { '4k': 0x1000n, '8k': 0x2000n, '16k': 0x4000n, '64k': 0x10000n, host: 0x1000n };

export function buildVirtioIommu(ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path): IommuDevice | undefined {
  const memory = ctx.addressSpace(spec.memory ?? 'system', [...path, spec.memory === undefined ? 'model' : 'memory'], `for ${name}'s output (QEMU's address_space_memory)`);
  const profile = spec.profile === 'qemu-7.2' ? 'qemu-7.2' : 'current';
  if (profile === 'qemu-7.2') {
    for (const k of ['granule', 'aw-bits']) {
      if (spec[k] !== undefined) ctx.warn('ignored-key', [...path, k], `QEMU 7.2 has no ${k} property: ${k === 'granule' ? 'page_size_mask is TARGET_PAGE_MASK (4 KiB)' : 'the input range is 64 bits'}`, 'key');
    }
  }
  const granule = typeof spec.granule === 'string' ? GRANULES[spec.granule] : undefined;
  const awBits = typeof spec['aw-bits'] === 'number' ? spec['aw-bits'] : undefined;
  let domainRange: [number, number] | undefined;
  const dr = list(spec['domain-range']);
  if (dr.length === 2) {
    const a = ctx.num(dr[0], [...path, 'domain-range', 0], undefined, 1n << 32n);
    const b = ctx.num(dr[1], [...path, 'domain-range', 1], undefined, 1n << 32n);
    if (a !== undefined && b !== undefined) domainRange = [Number(a), Number(b)];
  }
  const reserved: ReservedRegion[] = [];
  list(spec['reserved-regions']).forEach((raw, i) => {
    const r = obj(raw);
    if (!r) return;
    const p: Path = [...path, 'reserved-regions', i];
    const low = ctx.num(r.start, [...p, 'start']);
    const high = ctx.num(r.end, [...p, 'end']);
    if (low === undefined || high === undefined) return;
    if (low > high) {
      ctx.error('address-range', p, `reserved region start ${low.toString(16)} is after its end ${high.toString(16)}`);
      return;
    }
    reserved.push({ low, high, type: r.type === 'msi' ? 'msi' : 'reserved' });
  });
  const rq = obj(spec['request-queue']);
  let requestQueue: { at: bigint; size: number } | undefined;
  if (rq) {
    const at = ctx.num(rq.at, [...path, 'request-queue', 'at']);
    if (at !== undefined) requestQueue = { at, size: typeof rq.size === 'number' ? rq.size : 16 };
  }
  if (!memory) return undefined;
  const dev = VirtioIommu.create({
    name,
    memory,
    profile,
    bootBypass: spec['boot-bypass'] === false ? false : true,
    granule,
    awBits,
    domainRange,
    reservedRegions: reserved,
    requestQueue,
    source: ctx.id(path),
  });
  if (isEngineError(dev)) {
    // The engine's codes end with the key at fault: virtio-iommu-aw-bits, -domain-range, -granule, -request-queue.
    const key = dev.code.replace(/^virtio-iommu-/, '');
    ctx.error('bad-value', [...path, spec[key] !== undefined ? key : 'model'], dev.message);
    return undefined;
  }
  return dev;
}

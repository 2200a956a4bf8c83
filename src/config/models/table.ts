/** Config builder for the declarative `table` IOMMU. */
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO, TableIommu, hex, isEngineError, type AttrsMatcher, type IommuDevice } from '../../engine';
import { entries, list, obj, own, type BuildContext } from '../context';
import { pathWith, type Path } from '../document';

export const PERMS: Readonly<Record<string, number>> = { rw: IOMMU_RW, ro: IOMMU_RO, wo: IOMMU_WO, none: IOMMU_NONE };

const CHECK_CODES: Readonly<Record<string, string>> = {
  'mapping-alignment': 'size-alignment',
  'mapping-range': 'address-range',
  'mapping-overlap': 'mapping-overlap',
  'mapping-size': 'zero-size',
};

export function buildTable(ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path): IommuDevice | undefined {
  const size = ctx.size(spec.size, [...path, 'size'], name);
  const page = ctx.num(spec['page-size'], [...path, 'page-size'], 4096n);
  const indexSpecs = list(spec.indexes);
  if (size === undefined || page === undefined || indexSpecs.length === 0) return undefined;

  const names = new Map<string, number>();
  let defaultIndex: number | undefined;
  const indexes = indexSpecs.map((raw, i) => {
    const ix = obj(raw) ?? {};
    const ixName = typeof ix.name === 'string' ? ix.name : String(i);
    if (names.has(ixName)) ctx.error('duplicate-name', [...path, 'indexes', i, 'name'], `index name "${ixName}" is already used by index ${names.get(ixName)}`);
    names.set(ixName, i);
    if (ix.default === true) {
      if (defaultIndex !== undefined) ctx.error('duplicate-default', [...path, 'indexes', i, 'default'], `index ${defaultIndex} (${indexName(indexSpecs[defaultIndex], defaultIndex)}) is already the default; only one index can be`);
      else defaultIndex = i;
    }
    return { name: ixName, match: matcher(ctx, ix.match, [...path, 'indexes', i, 'match']), source: ctx.id([...path, 'indexes', i]) };
  });
  if (defaultIndex === undefined) {
    const unmatched = indexes.findIndex((ix) => ix.match === undefined);
    defaultIndex = unmatched >= 0 ? unmatched : 0;
  }

  const refuse = obj(spec.refuse);
  const created = TableIommu.create({
    name,
    size,
    minPageSize: page,
    defaultIndex,
    indexes,
    refuse: refuse
      ? {
          map: typeof refuse.map === 'string' ? refuse.map : undefined,
          unmap: typeof refuse.unmap === 'string' ? refuse.unmap : undefined,
          deviotlbUnmap: typeof refuse['deviotlb-unmap'] === 'string' ? refuse['deviotlb-unmap'] : undefined,
        }
      : undefined,
    source: ctx.id(path),
  });
  if (isEngineError(created)) {
    const at = created.code === 'page-size' ? [...path, 'page-size'] : created.code === 'region-size' ? [...path, 'size'] : path;
    ctx.error(created.code === 'region-size' ? 'size-alignment' : created.code, at, created.message);
    return undefined;
  }

  // Mappings are loaded one by one so that a bad one is reported where it is and the rest stay.
  indexSpecs.forEach((raw, i) => {
    const listPath: Path = [...path, 'indexes', i, 'mappings'];
    const listId = ctx.id(listPath);
    list(obj(raw)?.mappings).forEach((mraw, j) => {
      const mp = pathWith(listPath, j);
      const m = obj(mraw);
      if (!m) return;
      const iova = ctx.numAt(m.iova, mp, 'iova');
      const msize = ctx.sizeAt(m.size, mp, 'size', 'a mapping');
      const targetAs = ctx.target(m.target, pathWith(mp, 'target'));
      const addr = ctx.numAt(m.addr, mp, 'addr', 0n);
      const perm = typeof m.perm === 'string' ? own(PERMS, m.perm) : undefined;
      if (iova === undefined || msize === undefined || !targetAs || addr === undefined || perm === undefined) return;
      if (iova + msize > 1n << 64n) {
        ctx.error('address-range', [...mp, 'size'], `mapping at ${hex(iova)} with size ${hex(msize)} runs past the end of the 64-bit address space`);
        return;
      }
      const err = created.region.load(i, { iova, size: msize, targetAs, target: addr, perm, source: `${listId}/${j}` });
      if (err) {
        // A misaligned mapping is reported at the first of iova, size and addr that is off the page.
        const misaligned = (['iova', 'size', 'addr'] as const).find((k) => ({ iova, size: msize, addr })[k] % created.region.minPageSize() !== 0n);
        const field = err.code === 'mapping-alignment' ? (misaligned ?? 'iova') : err.code === 'mapping-overlap' || err.code === 'mapping-range' ? 'iova' : 'size';
        ctx.error(CHECK_CODES[err.code] ?? err.code, [...mp, field], err.message);
      }
    });
  });
  return created;
}

function indexName(raw: unknown, i: number): string {
  const n = obj(raw)?.name;
  return typeof n === 'string' ? n : String(i);
}

function matcher(ctx: BuildContext, v: unknown, path: Path): AttrsMatcher | undefined {
  const o = obj(v);
  if (!o) return undefined;
  const out: { -readonly [K in keyof AttrsMatcher]: AttrsMatcher[K] } = {};
  for (const [k, x] of entries(o)) {
    switch (k) {
      case 'unspecified':
      case 'secure':
      case 'user':
      case 'memory':
      case 'debug':
        if (typeof x === 'boolean') out[k] = x;
        break;
      case 'space':
        if (typeof x === 'string') out.space = x as AttrsMatcher['space'];
        break;
      case 'requester-id':
      case 'pasid': {
        const key = k === 'pasid' ? 'pasid' : 'requesterId';
        if (Array.isArray(x)) {
          const lo = ctx.num(x[0], [...path, k, 0]);
          const hi = ctx.num(x[1], [...path, k, 1]);
          if (lo !== undefined && hi !== undefined) {
            if (lo > hi) ctx.error('bad-value', [...path, k], `${k} range [${hex(lo)}, ${hex(hi)}] is empty: its first value is above its last`);
            else out[key] = [Number(lo), Number(hi)];
          }
        } else {
          const n = ctx.num(x, [...path, k]);
          if (n !== undefined) out[key] = Number(n);
        }
        break;
      }
    }
  }
  return out;
}

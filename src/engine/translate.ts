/**
 * A transaction crossing the memory system, as system/physmem.c's address_space_translate_iommu
 * does it: attrs choose the index, translate(addr, is_write ? WO : RO, idx), the permission check
 * `perm & (1 << is_write)` (failing to unassigned, a decode error), the address composition
 * `(translated & ~mask) | (addr & mask)`, masks ANDed together, and on into the target address
 * space until the access lands on RAM or MMIO.
 */
import { MemTxResult, formatAttrs, memTxResultName, type MemTxAttrs } from './attrs';
import { AddressSpace, type FlatRange } from './address-space';
import { engineError, type EngineError } from './errors';
import { fmtIndex } from './format';
import type { AccessSize } from './guest-memory';
import { U64_MAX, hex } from './hex';
import { IOMMUMemoryRegion } from './iommu';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO, permName, type IOMMUAccessFlags, type IOMMUTLBEntry } from './iotlb';
import { MmioRegion, RamRegion, type MemoryRegion } from './memory';
import { configSource, type Trace } from './trace';
import { addWork } from './work';

export type AccessOp = 'read' | 'write';

export interface TranslateRequest {
  readonly as: AddressSpace;
  readonly addr: bigint;
  readonly op: AccessOp;
  readonly attrs: MemTxAttrs;
  /** Pass an array to receive the steps; leave it out and nothing is allocated for them. */
  readonly trace?: Trace;
  /** A query, not an access: IOMMUs answer with probe(), leaving the machine as it was. */
  readonly probe?: boolean;
}

export interface Hop {
  readonly iommu: IOMMUMemoryRegion;
  readonly iommuIdx: number;
  /** Address in the IOMMU region. */
  readonly addr: bigint;
  readonly entry: IOMMUTLBEntry;
}

export type FaultReason = 'unassigned' | 'permission' | 'hop-limit' | 'loop';

export interface Landing {
  /** MEMTX_OK when the access reaches RAM or MMIO; MEMTX_DECODE_ERROR for unassigned. */
  readonly result: MemTxResult;
  /** The terminating region reached (undefined when the access is unassigned). */
  readonly region?: MemoryRegion;
  /** Offset inside that region. */
  readonly offset: bigint;
  /** The address space the access ended in, and the address in it. */
  readonly as: AddressSpace;
  readonly addr: bigint;
  /**
   * The composed IOTLB entry: iova = input & ~mask, translated = final address & ~mask, mask =
   * AND of every hop's mask, perm = AND of every hop's perm (QEMU's get_iotlb_entry reports RW).
   */
  readonly entry: IOMMUTLBEntry;
  readonly hops: readonly Hop[];
  readonly fault?: { readonly reason: FaultReason; readonly message: string };
}

const MAX_HOPS = 16;

/**
 * Translations in progress, one inside another: a model's own reads (an SMMU reading its tables)
 * are accesses too, and when its walk memory leads back through itself each read starts another
 * translation. QEMU would recurse until its stack runs out; past MAX_NESTED the inner access
 * fails (the model sees a failed read), and the outermost translation reports the loop as its
 * fault reason.
 */
const MAX_NESTED = 8;
let nested = 0;
let loopSeen: string | undefined;

export function translateAccess(req: TranslateRequest): Landing {
  if (nested >= MAX_NESTED) {
    const what = req.as.lookup(req.addr)?.region.name;
    loopSeen ??= `a translation loop: reaching ${hex(req.addr)} in ${req.as.name}${what ? ` (${what})` : ''} needs a translation that is itself in progress, ${MAX_NESTED} deep (QEMU would recurse for ever)`;
    return fault(req, req.as, req.addr, U64_MAX, [], 'loop', loopSeen);
  }
  nested++;
  addWork(1);
  let landing: Landing;
  try {
    landing = translateOnce(req);
  } finally {
    nested--;
  }
  if (nested === 0 && loopSeen !== undefined) {
    const message = loopSeen;
    loopSeen = undefined;
    if (landing.fault) {
      landing = { ...landing, fault: { reason: 'loop', message: `${landing.fault.message}; ${message}` } };
    }
    if (req.trace) req.trace.push({ kind: 'fault', summary: message, fields: { reason: 'loop', as: req.as.name, addr: req.addr } });
  }
  return landing;
}

function translateOnce(req: TranslateRequest): Landing {
  const { attrs, trace } = req;
  const isWrite = req.op === 'write';
  const inputAddr = req.addr;
  let as = req.as;
  let addr = req.addr;
  let pageMask = U64_MAX;
  let perm: IOMMUAccessFlags = IOMMU_RW;
  const hops: Hop[] = [];

  for (let hop = 0; ; hop++) {
    const section = as.lookup(addr);
    if (trace) traceLookup(trace, as, addr, section);
    if (section === undefined) {
      return fault(req, as, addr, pageMask, hops, 'unassigned', `${hex(addr)} is not mapped in address space ${as.name}`);
    }
    const offset = addr - section.start + section.offsetInRegion;
    const mr = section.region;
    if (!(mr instanceof IOMMUMemoryRegion)) {
      const entry: IOMMUTLBEntry = {
        targetAs: as,
        iova: inputAddr & ~pageMask,
        translatedAddr: addr & ~pageMask,
        addrMask: pageMask,
        perm,
      };
      if (trace) {
        trace.push({
          kind: 'land',
          summary: `lands in ${mr.kind.toUpperCase()} ${mr.name} at offset ${hex(offset)} (${as.name} ${hex(addr)})`,
          fields: { region: mr.name, kind: mr.kind, offset, as: as.name, addr, mask: pageMask },
          source: configSource(mr.source),
        });
      }
      return { result: MemTxResult.OK, region: mr, offset, as, addr, entry, hops };
    }
    addWork(1);
    if (hop >= MAX_HOPS) {
      return fault(req, as, addr, pageMask, hops, 'hop-limit', `more than ${MAX_HOPS} IOMMUs in a row: a loop in the config?`);
    }

    const iommu = mr;
    const idx = iommu.attrsToIndex(attrs);
    if (trace) {
      trace.push({
        kind: 'attrs-to-index',
        summary: `${iommu.name}: attrs {${formatAttrs(attrs)}} select ${fmtIndex(idx, iommu.indexName(idx))}`,
        fields: { iommu: iommu.name, model: iommu.model, attrs: formatAttrs(attrs), index: idx, indexName: iommu.indexName(idx) },
        source: configSource(iommu.source),
      });
    }
    const flag = isWrite ? IOMMU_WO : IOMMU_RO;
    const entry = req.probe ? iommu.probe(offset, flag, idx, trace) : iommu.translate(offset, flag, idx, trace);
    hops.push({ iommu, iommuIdx: idx, addr: offset, entry });
    if (trace) {
      trace.push({
        kind: 'iotlb-entry',
        summary: `${iommu.name} returns iova ${hex(entry.iova)} -> ${hex(entry.translatedAddr)} mask ${hex(entry.addrMask)} perm ${permName(entry.perm)} in ${entry.targetAs?.name ?? '(none)'}`,
        fields: {
          iova: entry.iova,
          translatedAddr: entry.translatedAddr,
          addrMask: entry.addrMask,
          perm: permName(entry.perm),
          targetAs: entry.targetAs?.name ?? '(none)',
        },
        source: configSource(iommu.source),
      });
    }
    const allowed = (entry.perm & (1 << (isWrite ? 1 : 0))) !== 0;
    if (trace) {
      trace.push({
        kind: 'perm-check',
        summary: `${req.op} needs ${isWrite ? 'WO' : 'RO'}: perm ${permName(entry.perm)} ${allowed ? 'allows' : 'refuses'} it`,
        fields: { op: req.op, needed: isWrite ? 'WO' : 'RO', perm: permName(entry.perm), allowed },
      });
    }
    if (!allowed || entry.targetAs === null) {
      return fault(
        req,
        as,
        addr,
        pageMask & entry.addrMask,
        hops,
        'permission',
        `${iommu.name} index ${idx} gives perm ${permName(entry.perm)} for ${hex(offset)}: the ${req.op} goes to unassigned`,
      );
    }
    const next = (entry.translatedAddr & ~entry.addrMask) | (offset & entry.addrMask);
    pageMask &= entry.addrMask;
    perm &= entry.perm;
    if (trace) {
      trace.push({
        kind: 'compose',
        summary: `(${hex(entry.translatedAddr)} & ~${hex(entry.addrMask)}) | (${hex(offset)} & ${hex(entry.addrMask)}) = ${hex(next)}; page mask now ${hex(pageMask)}`,
        fields: { translated: entry.translatedAddr, addrMask: entry.addrMask, input: offset, output: next, pageMask },
      });
      trace.push({
        kind: 'hop',
        summary: `on to address space ${entry.targetAs.name} at ${hex(next)}`,
        fields: { from: as.name, to: entry.targetAs.name, addr: next },
        source: configSource(entry.targetAs.source),
      });
    }
    as = entry.targetAs;
    addr = next;
  }
}

function traceLookup(trace: Trace, as: AddressSpace, addr: bigint, section: FlatRange | undefined): void {
  if (section === undefined) {
    trace.push({ kind: 'as-lookup', summary: `${as.name}: nothing at ${hex(addr)}`, fields: { as: as.name, addr }, source: configSource(as.source) });
    return;
  }
  const off = addr - section.start + section.offsetInRegion;
  trace.push({
    kind: 'as-lookup',
    summary: `${as.name}: ${hex(addr)} is in ${section.region.name} (${section.region.kind}) at offset ${hex(off)}`,
    fields: {
      as: as.name,
      addr,
      region: section.region.name,
      kind: section.region.kind,
      rangeStart: section.start,
      rangeEnd: section.end - 1n,
      offset: off,
    },
    source: configSource(section.source ?? as.source),
  });
}

function fault(req: TranslateRequest, as: AddressSpace, addr: bigint, pageMask: bigint, hops: Hop[], reason: FaultReason, message: string): Landing {
  if (req.trace) {
    req.trace.push({
      kind: 'fault',
      summary: `${memTxResultName(MemTxResult.DECODE_ERROR)}: ${message}`,
      fields: { reason, result: memTxResultName(MemTxResult.DECODE_ERROR), as: as.name, addr },
    });
  }
  return {
    result: MemTxResult.DECODE_ERROR,
    offset: 0n,
    as,
    addr,
    entry: { targetAs: null, iova: req.addr & ~pageMask, translatedAddr: 0n, addrMask: pageMask, perm: 0 },
    hops,
    fault: { reason, message },
  };
}

export interface AccessRequest extends TranslateRequest {
  readonly size: AccessSize;
  /** The value to write. */
  readonly value?: bigint;
}

export interface AccessResult {
  readonly landing: Landing;
  readonly result: MemTxResult;
  /** The value read (0 when the read failed, as QEMU's unassigned reads return). */
  readonly value: bigint;
  /** A memory fault from the backing (past its end), when there was one. */
  readonly error?: EngineError;
}

/** Translates and then performs the access on the RAM or MMIO region it lands on. */
export function performAccess(req: AccessRequest): AccessResult {
  const landing = translateAccess(req);
  const region = landing.region;
  if (landing.result !== MemTxResult.OK || region === undefined) return { landing, result: landing.result, value: 0n };
  const size = req.size;
  if (landing.offset + BigInt(size) > region.size) {
    const error = engineError('access-past-end', `${size}-byte ${req.op} at ${region.name}+${hex(landing.offset)} runs past its end (${hex(region.size)})`);
    return { landing, result: MemTxResult.DECODE_ERROR, value: 0n, error };
  }
  if (region instanceof RamRegion) {
    if (req.op === 'read') {
      const v = region.backing.read(landing.offset, size);
      if (typeof v !== 'bigint') return { landing, result: MemTxResult.ERROR, value: 0n, error: v };
      return { landing, result: MemTxResult.OK, value: v };
    }
    if (region.rom) return { landing, result: MemTxResult.DECODE_ERROR, value: 0n };
    if (region.romd) return { landing, result: MemTxResult.OK, value: 0n };
    const err = region.backing.write(landing.offset, size, req.value ?? 0n);
    return err ? { landing, result: MemTxResult.ERROR, value: 0n, error: err } : { landing, result: MemTxResult.OK, value: 0n };
  }
  if (region instanceof MmioRegion) {
    const value = req.value ?? 0n;
    if (req.op === 'read') {
      const r = region.ops ? region.ops.read(landing.offset, size, req.attrs) : { value: BigInt.asUintN(8 * size, region.readsAs), result: MemTxResult.OK };
      region.record({ op: 'read', offset: landing.offset, size, value: r.value, attrs: req.attrs });
      return { landing, result: r.result, value: r.value };
    }
    const result = region.ops ? region.ops.write(landing.offset, size, value, req.attrs) : MemTxResult.OK;
    region.record({ op: 'write', offset: landing.offset, size, value, attrs: req.attrs });
    return { landing, result, value: 0n };
  }
  return { landing, result: MemTxResult.DECODE_ERROR, value: 0n, error: engineError('not-accessible', `${region.name} is a ${region.kind} region`) };
}

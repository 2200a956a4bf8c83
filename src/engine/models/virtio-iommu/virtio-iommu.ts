/**
 * `virtio-iommu`: the paravirtual IOMMU as QEMU's hw/virtio/virtio-iommu.c models it, following
 * the virtio specification's IOMMU device where QEMU departs from it (and reproducing Debian's
 * QEMU 7.2 in the `qemu-7.2` profile). Its state is not page tables but what the driver's
 * requests built: endpoints (PCI requester IDs), domains, and each domain's mappings.
 *
 * Translation (virtio_iommu_translate): an endpoint that is bypassed (not attached and
 * config.bypass set, or attached to a bypass domain) never reaches translate in QEMU, whose
 * address space switches to an alias of system memory: identity. Otherwise an unknown endpoint
 * faults (R_UNKNOWN), an address in a reserved region is identity (MSI) or faults (R_MAPPING),
 * an endpoint with no domain faults (R_DOMAIN), an unmapped address faults (R_MAPPING), a
 * missing READ or WRITE flag faults (R_MAPPING with F_READ / F_WRITE); a hit gives
 * translated = addr - virt_start + phys_start, perm = the requested flag, mask = the smallest
 * page size - 1. Faults go to the event queue (faults.ts).
 */
import type { AddressSpace } from '../../address-space';
import type { IommuDevice, ModelCommand, ModelStateNode } from '../../device';
import { engineError, type EngineError } from '../../errors';
import type { IOMMUNotifier } from '../../iommu';
import { U64_MAX, hex } from '../../hex';
import { IOMMU_NONE, IOMMU_NOTIFIER_DEVIOTLB_UNMAP, IOMMU_RO, IOMMU_RW, IOMMU_WO, permName, type IOMMUAccessFlags, type IOMMUNotifierFlag, type IOMMUTLBEntry } from '../../iotlb';
import type { Trace, TraceFieldValue } from '../../trace';
import { EP_BYPASS, EP_DOMAIN, EP_NO_DOMAIN, EP_UNKNOWN, EndpointTranslator } from './fast-path';
import { faultRecord, type FaultRecord } from './faults';
import { DomainMappings, type Mapping } from './interval-map';
import { mapPerm, notifyMap, notifyUnmap, pow2Chunks } from './notify';
import { VirtioIommuRegion, type EndpointOwner } from './region';
import { RequestQueue } from './request-queue';
import { decodeRequest, encodeRequest, probeReply } from './wire';
import {
  RESV_MEM_PROP_SIZE,
  VIOMMU_PROBE_SIZE,
  VIRTIO_IOMMU_ATTACH_F_BYPASS,
  VIRTIO_IOMMU_FAULT_F_ADDRESS,
  VIRTIO_IOMMU_FAULT_F_READ,
  VIRTIO_IOMMU_FAULT_F_WRITE,
  VIRTIO_IOMMU_FAULT_R_DOMAIN,
  VIRTIO_IOMMU_FAULT_R_MAPPING,
  VIRTIO_IOMMU_FAULT_R_UNKNOWN,
  VIRTIO_IOMMU_MAP_F_MASK,
  VIRTIO_IOMMU_MAP_F_MMIO,
  VIRTIO_IOMMU_MAP_F_READ,
  VIRTIO_IOMMU_MAP_F_WRITE,
  VIRTIO_IOMMU_PROBE_T_RESV_MEM,
  VIRTIO_IOMMU_RESV_MEM_T_MSI,
  VIRTIO_IOMMU_RESV_MEM_T_RESERVED,
  VIRTIO_IOMMU_S_INVAL,
  VIRTIO_IOMMU_S_NOENT,
  VIRTIO_IOMMU_S_OK,
  VIRTIO_IOMMU_S_RANGE,
  VIRTIO_IOMMU_S_UNSUPP,
  VIRTIO_IOMMU_T_ATTACH,
  VIRTIO_IOMMU_T_DETACH,
  VIRTIO_IOMMU_T_MAP,
  VIRTIO_IOMMU_T_PROBE,
  VIRTIO_IOMMU_T_UNMAP,
  faultReasonName,
  mapFlagsName,
  profileFlags,
  sidBdf,
  statusName,
  type ProfileFlags,
  type ReservedRegion,
  type VirtioIommuProfile,
} from './types';

export interface VirtioIommuOptions {
  readonly name: string;
  /** Where translated and bypassed accesses go: QEMU's address_space_memory. */
  readonly memory: AddressSpace;
  readonly profile?: VirtioIommuProfile;
  /** boot-bypass (default true): config.bypass at reset. */
  readonly bootBypass?: boolean;
  /** granule (QEMU 9.0 on): the smallest page size; `host` (the default) is the host's page size, 4 KiB here. */
  readonly granule?: bigint;
  /** aw-bits (QEMU 9.0 on, default 64): input_range.end = 2^aw-bits - 1. */
  readonly awBits?: number;
  /** domain_range (default [0, 2^32 - 1]); QEMU has no property for it. */
  readonly domainRange?: readonly [number, number];
  /** QEMU's reserved-regions property (virtio-iommu-pci): reserved and MSI regions. */
  readonly reservedRegions?: readonly ReservedRegion[];
  /** The request virtqueue in `memory`: requests then go through guest memory (request-queue.ts). */
  readonly requestQueue?: { readonly at: bigint; readonly size: number };
  readonly source?: string;
}

/** struct virtio_iommu_config as the device presents it. */
export interface VirtioIommuConfig {
  pageSizeMask: bigint;
  inputStart: bigint;
  inputEnd: bigint;
  domainStart: number;
  domainEnd: number;
  probeSize: number;
  bypass: boolean;
}

export interface Domain {
  readonly id: number;
  readonly bypass: boolean;
  readonly mappings: DomainMappings;
  /** QEMU's endpoint_list: QLIST_INSERT_HEAD, so the newest attached first. */
  endpoints: Endpoint[];
}

export interface Endpoint {
  readonly id: number;
  domain: Domain | undefined;
  readonly region: VirtioIommuRegion;
}

/** A request as the driver puts it on the request queue. */
export type VirtioIommuRequest =
  | { readonly type: 'attach'; readonly domain: number; readonly endpoint: number; readonly flags?: number }
  | { readonly type: 'detach'; readonly domain: number; readonly endpoint: number }
  | { readonly type: 'map'; readonly domain: number; readonly virtStart: bigint; readonly virtEnd: bigint; readonly physStart: bigint; readonly flags: number }
  | { readonly type: 'unmap'; readonly domain: number; readonly virtStart: bigint; readonly virtEnd: bigint }
  | { readonly type: 'probe'; readonly endpoint: number }
  /** A request type the device does not know (head.type): S_UNSUPP. */
  | { readonly type: 'unknown'; readonly code: number };

export interface ProbeProperty {
  readonly type: number;
  readonly length: number;
  readonly subtype: number;
  readonly start: bigint;
  readonly end: bigint;
}

export interface RequestResult {
  readonly request: VirtioIommuRequest;
  readonly status: number;
  /** What the request did, in one line, naming QEMU's or the specification's rule where it matters. */
  readonly effect: string;
  /** PROBE: the properties written into the probe buffer. */
  readonly properties?: readonly ProbeProperty[];
}

const LOG_LIMIT = 256;
const REQUEST_TYPES: Readonly<Record<string, number>> = {
  attach: VIRTIO_IOMMU_T_ATTACH,
  detach: VIRTIO_IOMMU_T_DETACH,
  map: VIRTIO_IOMMU_T_MAP,
  unmap: VIRTIO_IOMMU_T_UNMAP,
  probe: VIRTIO_IOMMU_T_PROBE,
};

export class VirtioIommu implements IommuDevice, EndpointOwner {
  readonly model = 'virtio-iommu';
  readonly name: string;
  readonly source?: string;
  readonly flags: ProfileFlags;
  readonly memory: AddressSpace;
  readonly config: VirtioIommuConfig;
  readonly bootBypass: boolean;
  readonly reservedRegions: readonly ReservedRegion[];
  /** Faults reported on the event queue, oldest first. */
  readonly faults: FaultRecord[] = [];
  /** QEMU's error_report / error_report_once output. */
  readonly log: string[] = [];
  /** Every request handled, oldest first (the last 256). */
  readonly requests: RequestResult[] = [];
  /** The request virtqueue, when the config places one in guest memory. */
  readonly queue?: RequestQueue;
  /** Set by virtio_error: the device needs a reset and handles nothing more. */
  broken?: string;

  private readonly endpointMap = new Map<number, Endpoint>();
  private readonly domainMap = new Map<number, Domain>();
  private readonly regionMap = new Map<number, VirtioIommuRegion>();
  private readonly reportedOnce = new Set<string>();

  static create(opts: VirtioIommuOptions): VirtioIommu | EngineError {
    const flags = profileFlags(opts.profile ?? 'current');
    const aw = opts.awBits ?? 64;
    if (flags.properties && (!Number.isInteger(aw) || aw < 32 || aw > 64)) return engineError('virtio-iommu-aw-bits', 'aw-bits must be within [32,64]');
    const g = opts.granule ?? 4096n;
    if (g <= 0n || (g & (g - 1n)) !== 0n) return engineError('virtio-iommu-granule', `granule ${hex(g)} is not a power of two`);
    const [ds, de] = opts.domainRange ?? [0, 0xffff_ffff];
    if (!(Number.isInteger(ds) && Number.isInteger(de) && ds >= 0 && de <= 0xffff_ffff && ds <= de)) {
      return engineError('virtio-iommu-domain-range', `domain range [${ds}, ${de}] is not within [0, 0xffffffff] with start <= end`);
    }
    const q = opts.requestQueue;
    if (q && (!Number.isInteger(q.size) || q.size < 2 || q.size > 256 || (q.size & (q.size - 1)) !== 0)) {
      return engineError('virtio-iommu-request-queue', `request queue size ${q.size} is not a power of two in [2, 256] (VIOMMU_DEFAULT_QUEUE_SIZE is 256)`);
    }
    for (const r of opts.reservedRegions ?? []) {
      if (r.low > r.high) return engineError('virtio-iommu-reserved', `reserved region ${hex(r.low)}..${hex(r.high)}: start is after end`);
    }
    return new VirtioIommu(opts, flags, aw, g, [ds, de]);
  }

  private constructor(opts: VirtioIommuOptions, flags: ProfileFlags, aw: number, granule: bigint, domains: [number, number]) {
    this.name = opts.name;
    this.source = opts.source;
    this.flags = flags;
    this.memory = opts.memory;
    this.bootBypass = opts.bootBypass ?? true;
    this.reservedRegions = [...(opts.reservedRegions ?? [])];
    if (opts.requestQueue) this.queue = new RequestQueue({ as: opts.memory, at: opts.requestQueue.at, size: opts.requestQueue.size });
    // QEMU 7.2: page_size_mask = TARGET_PAGE_MASK, input_range.end = UINT64_MAX.
    const g = flags.properties ? granule : 4096n;
    this.config = {
      pageSizeMask: U64_MAX & ~(g - 1n),
      inputStart: 0n,
      inputEnd: flags.properties && aw < 64 ? (1n << BigInt(aw)) - 1n : U64_MAX,
      domainStart: domains[0],
      domainEnd: domains[1],
      probeSize: VIOMMU_PROBE_SIZE,
      bypass: this.bootBypass,
    };
  }

  get profile(): VirtioIommuProfile {
    return this.flags.profile;
  }

  /** The smallest page size: 1 << ctz(page_size_mask). */
  minPageSize(): bigint {
    const m = this.config.pageSizeMask;
    return m & -m;
  }

  // --- IommuDevice --------------------------------------------------------------------------

  regions(): readonly VirtioIommuRegion[] {
    return [...this.regionMap.values()];
  }

  /** virtio_iommu_find_add_as: the region of endpoint `requesterId` (0 when none is given). */
  regionFor(requesterId: number | undefined): VirtioIommuRegion {
    const sid = (requesterId ?? 0) & 0xffff;
    let r = this.regionMap.get(sid);
    if (r === undefined) {
      r = new VirtioIommuRegion(this, sid, `${this.name}.ep-0x${sid.toString(16)}`);
      r.source = this.source;
      this.regionMap.set(sid, r);
      r.setEnabled(!this.bypassed(sid));
    }
    return r;
  }

  get endpoints(): ReadonlyMap<number, Endpoint> {
    return this.endpointMap;
  }

  get domains(): ReadonlyMap<number, Domain> {
    return this.domainMap;
  }

  /** virtio_iommu_device_reset: every domain and endpoint goes (detaching, with UNMAPs). */
  reset(): void {
    for (const d of [...this.domainMap.values()]) {
      for (const ep of [...d.endpoints]) this.detachEndpoint(ep);
    }
    this.domainMap.clear();
    this.endpointMap.clear();
    // virtio_iommu_system_reset: config.bypass back to boot-bypass.
    this.config.bypass = this.bootBypass;
    this.switchAll();
    this.faults.length = 0;
  }

  issueCommands(cmds: readonly ModelCommand[]): Array<{ effect: string; error: number; status: string }> | EngineError {
    const out: Array<{ effect: string; error: number; status: string }> = [];
    for (const c of cmds) {
      const req = parseCommand(c);
      if ('error' in req) return req;
      if (req.type === 'config-bypass') {
        const r = this.setConfigBypass(req.value);
        out.push({ effect: r.effect, error: r.error ? 1 : 0, status: r.error ? 'DEVICE_NEEDS_RESET' : 'S_OK' });
        continue;
      }
      if (req.type === 'kick') {
        const done = this.kick();
        if (typeof done === 'string') return engineError('virtio-iommu-queue', `${this.name}: ${done}`);
        for (const d of done) out.push({ effect: d.effect, error: d.status ?? 1, status: d.status === undefined ? 'DEVICE_NEEDS_RESET' : statusName(d.status) });
        if (!done.length) out.push({ effect: 'kick: no request available', error: 0, status: 'S_OK' });
        continue;
      }
      if (this.queue) {
        const r = this.viaQueue(req);
        if (typeof r === 'string') return engineError('virtio-iommu-queue', `${this.name}: ${r}`);
        out.push({ effect: r.effect, error: r.status ?? 1, status: r.status === undefined ? 'DEVICE_NEEDS_RESET' : statusName(r.status) });
        continue;
      }
      const r = this.request(req);
      out.push({ effect: `${statusName(r.status)}: ${r.effect}`, error: r.status, status: statusName(r.status) });
    }
    return out;
  }

  /** The driver's side: the request into the queue, a kick, the status read back from guest memory. */
  private viaQueue(req: VirtioIommuRequest): { effect: string; status?: number } | string {
    const q = this.queue!;
    const inLen = req.type === 'probe' ? this.config.probeSize + 4 : 4;
    const sub = q.submit(encodeRequest(req), inLen);
    if (typeof sub === 'string') return sub;
    const done = this.kick();
    if (typeof done === 'string') return done;
    const mine = done.find((d) => d.head === sub.head);
    if (!mine) return { effect: `the device handled no request${this.broken ? ` (${this.broken})` : ''}` };
    const statusAt = sub.inAddr + BigInt(inLen - 4);
    const status = q.read(statusAt, 1);
    const others = done.length > 1 ? `; the kick also handled ${done.length - 1} chain(s) already in the queue` : '';
    return { effect: `${mine.effect} [request queue: chain ${sub.head}, status ${status === undefined ? '?' : statusName(Number(status))} read back at ${hex(statusAt)}${others}]`, status: status === undefined ? undefined : Number(status) };
  }

  /** virtio_iommu_handle_command: every available chain, handled and returned in the used ring. */
  kick(): Array<{ head: number; status?: number; effect: string }> | string {
    const q = this.queue;
    if (!q) return 'no request queue is configured (request-queue)';
    const out: Array<{ head: number; status?: number; effect: string }> = [];
    if (this.broken) return out;
    for (;;) {
      const c = q.pop();
      if (c === undefined) break;
      if (typeof c === 'string') {
        this.broken = c;
        this.report(c);
        out.push({ head: -1, effect: `virtio_error: ${c} (the device needs a reset)` });
        break;
      }
      const inSize = c.inSegs.reduce((a, x) => a + x.len, 0);
      if (inSize < 4 || c.out.length < 4) {
        this.broken = 'virtio-iommu bad head/tail size';
        this.report(this.broken);
        out.push({ head: c.head, effect: `virtio_error: ${this.broken} (the chain is dropped; the device needs a reset)` });
        break;
      }
      const req = decodeRequest(c.out);
      let status: number;
      let effect: string;
      let reply: Uint8Array;
      if (typeof req === 'string') {
        status = VIRTIO_IOMMU_S_INVAL;
        effect = `${statusName(status)}: ${req}`;
        reply = c.out[0] === VIRTIO_IOMMU_T_PROBE ? probeReply([], status) : Uint8Array.of(status, 0, 0, 0);
      } else {
        const r = this.request(req);
        status = r.status;
        effect = `${statusName(status)}: ${r.effect}`;
        reply = req.type === 'probe' ? probeReply(status === VIRTIO_IOMMU_S_OK ? this.reservedRegions : [], status) : Uint8Array.of(status, 0, 0, 0);
      }
      const written = q.fill(c, reply);
      if (written !== reply.length) {
        // QEMU asserts sz == output_size: a PROBE whose buffer is short aborts QEMU.
        effect += `; the writable buffer holds ${written} of the ${reply.length} bytes: QEMU asserts (sz == output_size) and aborts`;
      }
      q.push(c, written);
      out.push({ head: c.head, status, effect });
    }
    return out;
  }

  checkCommand(c: ModelCommand): EngineError | undefined {
    const r = parseCommand(c);
    return 'error' in r ? r : undefined;
  }

  // --- requests (virtio_iommu_handle_command) -----------------------------------------------

  request(req: VirtioIommuRequest): RequestResult {
    const r = this.handle(req);
    const result: RequestResult = { request: req, ...r };
    this.requests.push(result);
    if (this.requests.length > LOG_LIMIT) this.requests.splice(0, this.requests.length - LOG_LIMIT);
    return result;
  }

  private handle(req: VirtioIommuRequest): Omit<RequestResult, 'request'> {
    switch (req.type) {
      case 'attach':
        return this.attach(req.domain, req.endpoint, req.flags ?? 0);
      case 'detach':
        return this.detach(req.domain, req.endpoint);
      case 'map':
        return this.map(req.domain, req.virtStart, req.virtEnd, req.physStart, req.flags);
      case 'unmap':
        return this.unmap(req.domain, req.virtStart, req.virtEnd);
      case 'probe':
        return this.probeEndpoint(req.endpoint);
      case 'unknown':
        return { status: VIRTIO_IOMMU_S_UNSUPP, effect: `request type ${hex(req.code)} is not one the device knows` };
    }
  }

  /** virtio_iommu_attach. */
  private attach(domainId: number, epId: number, flags: number): Omit<RequestResult, 'request'> {
    const what = `ATTACH endpoint ${hex(epId)} to domain ${domainId}${flags & VIRTIO_IOMMU_ATTACH_F_BYPASS ? ' (bypass)' : ''}`;
    if (flags & ~VIRTIO_IOMMU_ATTACH_F_BYPASS) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: unknown flags ${hex(flags)}` };
    const notes: string[] = [];
    if (domainId < this.config.domainStart || domainId > this.config.domainEnd) {
      if (this.flags.specRangeChecks) {
        return { status: VIRTIO_IOMMU_S_RANGE, effect: `${what}: domain outside domain_range [${this.config.domainStart}, ${this.config.domainEnd}] (specification; QEMU does not check)` };
      }
      notes.push(`domain outside domain_range: QEMU 7.2 does not check; the specification answers S_RANGE`);
    }
    const ep = this.getEndpoint(epId);
    if (!ep) return { status: VIRTIO_IOMMU_S_NOENT, effect: `${what}: no such endpoint` };
    if (ep.domain) {
      const previous = ep.domain;
      const n = previous.mappings.size;
      const sw = this.detachEndpoint(ep);
      notes.push(`detached from domain ${previous.id} first (UNMAP of its ${n} mapping(s)${sw === 'bypassed' ? '; config.bypass = 1, so the endpoint bypasses meanwhile and memory listeners see the IOMMU section removed' : ''})`);
      if (previous.endpoints.length === 0) {
        this.domainMap.delete(previous.id);
        notes.push(`domain ${previous.id} had no endpoint left and was freed with its mappings`);
      }
    }
    const domain = this.getDomain(domainId, (flags & VIRTIO_IOMMU_ATTACH_F_BYPASS) !== 0);
    if (!domain) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: ${[...notes, `domain ${domainId} exists with the other bypass flag`].join('; ')}` };
    domain.endpoints.unshift(ep);
    ep.domain = domain;
    const switched = this.switchAddressSpace(ep.region);
    if (switched === 'translated') notes.push('the endpoint leaves bypass: its address space switches to the IOMMU region, memory listeners see the section added (vfio registers again and replays)');
    if (switched === 'bypassed') notes.push('the endpoint bypasses: its address space switches to the alias of system memory');
    // Replay domain mappings on the associated memory region.
    let sent = 0;
    for (const m of domain.mappings.all()) if (notifyMap(ep.region, this.memory, m.low, m.high, m.phys, m.flags) === undefined) sent++;
    notes.push(`${domain.mappings.size} mapping(s) of the domain, ${sent} sent as MAP`);
    return { status: VIRTIO_IOMMU_S_OK, effect: `${what}: ${notes.join('; ')}` };
  }

  /** virtio_iommu_detach. */
  private detach(domainId: number, epId: number): Omit<RequestResult, 'request'> {
    const what = `DETACH endpoint ${hex(epId)} from domain ${domainId}`;
    const ep = this.endpointMap.get(epId);
    if (!ep) return { status: VIRTIO_IOMMU_S_NOENT, effect: `${what}: no such endpoint (never attached, or detached)` };
    const domain = ep.domain;
    if (!domain || domain.id !== domainId) {
      return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: the endpoint is ${domain ? `in domain ${domain.id}` : 'in no domain'}` };
    }
    const notes = [`UNMAP of the domain's ${domain.mappings.size} mapping(s)`];
    if (this.detachEndpoint(ep) === 'bypassed') notes.push('the endpoint bypasses now (config.bypass): its address space switches to the alias of system memory');
    if (domain.endpoints.length === 0) {
      this.domainMap.delete(domain.id);
      notes.push(`domain ${domain.id} had no endpoint left and was freed with its mappings`);
    }
    if (this.flags.detachRemovesEndpoint) {
      this.endpointMap.delete(epId);
      notes.push('the endpoint is forgotten (QEMU 9.1 on; QEMU 7.2 keeps it)');
    }
    return { status: VIRTIO_IOMMU_S_OK, effect: `${what}: ${notes.join('; ')}` };
  }

  /** virtio_iommu_map. */
  private map(domainId: number, start: bigint, end: bigint, phys: bigint, flags: number): Omit<RequestResult, 'request'> {
    const what = `MAP domain ${domainId} [${hex(start)}, ${hex(end)}] -> ${hex(phys)} ${mapFlagsName(flags)}`;
    if (flags & ~VIRTIO_IOMMU_MAP_F_MASK) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: unknown flags` };
    const domain = this.domainMap.get(domainId);
    if (!domain) return { status: VIRTIO_IOMMU_S_NOENT, effect: `${what}: no such domain` };
    if (domain.bypass) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: domain ${domainId} is a bypass domain` };
    if (start > end) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: virt_end is below virt_start (QEMU would insert the inverted interval; the engine refuses it)` };
    const notes: string[] = [];
    const range = this.rangeProblem(start, end, phys);
    if (range) {
      if (this.flags.specRangeChecks) return { status: VIRTIO_IOMMU_S_RANGE, effect: `${what}: ${range} (specification; QEMU does not check)` };
      notes.push(`${range}: QEMU 7.2 maps it anyway; the specification answers S_RANGE`);
    }
    const hit = domain.mappings.overlapping(start, end)[0];
    if (hit) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: overlaps the mapping [${hex(hit.low)}, ${hex(hit.high)}]` };
    domain.mappings.insert({ low: start, high: end, phys, flags });
    for (const ep of domain.endpoints) {
      const why = notifyMap(ep.region, this.memory, start, end, phys, flags);
      notes.push(why ? `endpoint ${hex(ep.id)}: ${why}` : `endpoint ${hex(ep.id)}: MAP sent`);
    }
    if (domain.endpoints.length === 0) notes.push('no endpoint attached: nothing notified');
    return { status: VIRTIO_IOMMU_S_OK, effect: `${what}: ${notes.join('; ')}` };
  }

  /** What the specification's MAP checks find wrong, or undefined. */
  private rangeProblem(start: bigint, end: bigint, phys: bigint): string | undefined {
    const c = this.config;
    if (start < c.inputStart || end > c.inputEnd) return `outside the input range [${hex(c.inputStart)}, ${hex(c.inputEnd)}]`;
    const g = this.minPageSize() - 1n;
    if (start & g || phys & g || (end + 1n) & g & U64_MAX) return `not aligned on the ${hex(g + 1n)}-byte granule`;
    return undefined;
  }

  /** virtio_iommu_unmap. */
  private unmap(domainId: number, start: bigint, end: bigint): Omit<RequestResult, 'request'> {
    const what = `UNMAP domain ${domainId} [${hex(start)}, ${hex(end)}]`;
    const domain = this.domainMap.get(domainId);
    if (!domain) return { status: VIRTIO_IOMMU_S_NOENT, effect: `${what}: no such domain` };
    if (domain.bypass) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: domain ${domainId} is a bypass domain` };
    const split = domain.mappings.overlapping(start, end).find((m) => m.low < start || m.high > end);
    if (split && this.flags.unmapAtomic) {
      return {
        status: VIRTIO_IOMMU_S_RANGE,
        effect: `${what}: would split the mapping [${hex(split.low)}, ${hex(split.high)}]; nothing removed (specification; QEMU removes the wholly covered mappings its tree search meets first)`,
      };
    }
    // QEMU's loop: look the range up in the GTree, remove what it meets while that is covered.
    let removed = 0;
    for (let m = domain.mappings.qemuLookup(start, end); m; m = domain.mappings.qemuLookup(start, end)) {
      if (m.low < start || m.high > end) {
        return {
          status: VIRTIO_IOMMU_S_RANGE,
          effect: `${what}: would split the mapping [${hex(m.low)}, ${hex(m.high)}]; ${removed} mapping(s) removed before QEMU 7.2's tree search met it (the specification removes none)`,
        };
      }
      this.removeMapping(domain, m);
      removed++;
    }
    return { status: VIRTIO_IOMMU_S_OK, effect: `${what}: ${removed} mapping(s) removed${removed ? `, UNMAP to ${domain.endpoints.length} endpoint(s)` : ''}` };
  }

  private removeMapping(domain: Domain, m: Mapping): void {
    for (const ep of domain.endpoints) notifyUnmap(ep.region, this.memory, m.low, m.high);
    domain.mappings.remove(m);
  }

  /** virtio_iommu_probe: the reserved memory regions as RESV_MEM properties. */
  private probeEndpoint(epId: number): Omit<RequestResult, 'request'> {
    const what = `PROBE endpoint ${hex(epId)}`;
    if (!this.regionMap.has(epId)) return { status: VIRTIO_IOMMU_S_NOENT, effect: `${what}: no such endpoint` };
    const total = RESV_MEM_PROP_SIZE * this.reservedRegions.length;
    if (total > VIOMMU_PROBE_SIZE) return { status: VIRTIO_IOMMU_S_INVAL, effect: `${what}: ${this.reservedRegions.length} reserved regions need ${total} bytes; the probe buffer has ${VIOMMU_PROBE_SIZE}` };
    const properties = this.reservedRegions.map((r) => ({
      type: VIRTIO_IOMMU_PROBE_T_RESV_MEM,
      length: RESV_MEM_PROP_SIZE - 4,
      subtype: r.type === 'msi' ? VIRTIO_IOMMU_RESV_MEM_T_MSI : VIRTIO_IOMMU_RESV_MEM_T_RESERVED,
      start: r.low,
      end: r.high,
    }));
    const list = properties.map((p) => `RESV_MEM ${p.subtype === VIRTIO_IOMMU_RESV_MEM_T_MSI ? 'MSI' : 'RESERVED'} [${hex(p.start)}, ${hex(p.end)}]`).join(', ');
    return { status: VIRTIO_IOMMU_S_OK, effect: `${what}: ${properties.length} propert${properties.length === 1 ? 'y' : 'ies'}${list ? `: ${list}` : ''}`, properties };
  }

  /** virtio_iommu_set_config: the driver writes config.bypass (VIRTIO_IOMMU_F_BYPASS_CONFIG). */
  setConfigBypass(value: number): { effect: string; error?: string } {
    if (value !== 0 && value !== 1) {
      const error = `invalid config.bypass value '${value}'`;
      this.report(error);
      return { effect: `config.bypass <- ${value}: virtio_error "${error}" (the device needs a reset)`, error };
    }
    const was = this.config.bypass;
    this.config.bypass = value === 1;
    const switched = was === this.config.bypass ? 0 : this.switchAll();
    return { effect: `config.bypass <- ${value}${switched ? `: ${switched} endpoint(s) switch address space` : ''}` };
  }

  private getEndpoint(id: number): Endpoint | undefined {
    const ep = this.endpointMap.get(id);
    if (ep) return ep;
    const region = this.regionMap.get(id);
    if (!region) return undefined;
    const made: Endpoint = { id, domain: undefined, region };
    this.endpointMap.set(id, made);
    return made;
  }

  private getDomain(id: number, bypass: boolean): Domain | undefined {
    const d = this.domainMap.get(id);
    if (d) return d.bypass === bypass ? d : undefined;
    const made: Domain = { id, bypass, mappings: new DomainMappings(), endpoints: [] };
    this.domainMap.set(id, made);
    return made;
  }

  /** virtio_iommu_detach_endpoint_from_domain: UNMAP of every mapping, then the switch. */
  private detachEndpoint(ep: Endpoint): 'translated' | 'bypassed' | undefined {
    const domain = ep.domain;
    if (!domain) return undefined;
    for (const m of domain.mappings.all()) notifyUnmap(ep.region, this.memory, m.low, m.high);
    domain.endpoints = domain.endpoints.filter((x) => x !== ep);
    ep.domain = undefined;
    return this.switchAddressSpace(ep.region);
  }

  /** virtio_iommu_device_bypassed. */
  bypassed(sid: number): boolean {
    const ep = this.endpointMap.get(sid);
    if (!ep || !ep.domain) return this.config.bypass;
    return ep.domain.bypass;
  }

  /** virtio_iommu_switch_address_space: which way it switched, if it did. */
  private switchAddressSpace(r: VirtioIommuRegion): 'translated' | 'bypassed' | undefined {
    const on = !this.bypassed(r.sid);
    if (on === r.enabled) return undefined;
    r.setEnabled(on);
    return on ? 'translated' : 'bypassed';
  }

  private switchAll(): number {
    let n = 0;
    for (const r of this.regionMap.values()) if (this.switchAddressSpace(r)) n++;
    return n;
  }

  // --- translation --------------------------------------------------------------------------

  translateEndpoint(r: VirtioIommuRegion, addr: bigint, flag: IOMMUAccessFlags, trace: Trace | undefined, quiet: boolean): IOMMUTLBEntry {
    const sid = r.sid;
    const query = quiet && flag === IOMMU_NONE;
    const mask = this.minPageSize() - 1n;
    const entry: IOMMUTLBEntry = { targetAs: this.memory, iova: addr, translatedAddr: addr, addrMask: mask, perm: IOMMU_NONE };
    if (trace) {
      trace.push(step(`${this.name}: endpoint ${hex(sid)} (${sidBdf(sid)}), ${permName(flag)} at ${hex(addr)}${this.flags.profile === 'current' ? '' : ` [profile ${this.flags.profile}]`}`, {
        endpoint: sid,
        addr,
        flag: permName(flag),
        profile: this.flags.profile,
      }));
    }
    const ep = this.endpointMap.get(sid);
    if (this.bypassed(sid)) {
      if (trace) {
        const why = ep?.domain ? `attached to bypass domain ${ep.domain.id}` : `${ep ? 'attached to no domain' : 'not attached'} and config.bypass = 1`;
        trace.push(step(`endpoint ${why}: bypass (QEMU switched its address space to the alias of system memory), identity`, { bypass: true }));
      }
      entry.perm = query ? IOMMU_RW : flag;
      return entry;
    }
    if (!ep) {
      return this.fault(entry, { reason: VIRTIO_IOMMU_FAULT_R_UNKNOWN, flags: VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint: sid, address: addr }, 'unknown', `virtio_iommu_translate sid=${sid} is not known!!`, 'the endpoint was never attached and config.bypass = 0', trace, quiet);
    }
    for (const rr of this.reservedRegions) {
      if (addr < rr.low || addr > rr.high) continue;
      if (rr.type === 'msi') {
        if (trace) trace.push(step(`${hex(addr)} is in the MSI region [${hex(rr.low)}, ${hex(rr.high)}]: identity`, { reserved: 'msi', low: rr.low, high: rr.high }));
        entry.perm = query ? IOMMU_RW : flag;
        return entry;
      }
      return this.fault(entry, { reason: VIRTIO_IOMMU_FAULT_R_MAPPING, flags: VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint: sid, address: addr }, undefined, undefined, `${hex(addr)} is in the reserved region [${hex(rr.low)}, ${hex(rr.high)}]`, trace, quiet);
    }
    const domain = ep.domain;
    if (!domain) {
      return this.fault(entry, { reason: VIRTIO_IOMMU_FAULT_R_DOMAIN, flags: VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint: sid, address: addr }, 'domain', `virtio_iommu_translate ${sidBdf(sid)} not attached to any domain`, 'the endpoint is attached to no domain and config.bypass = 0', trace, quiet);
    }
    const m = this.lookup(domain, addr, trace);
    if (!m) {
      return this.fault(entry, { reason: VIRTIO_IOMMU_FAULT_R_MAPPING, flags: VIRTIO_IOMMU_FAULT_F_ADDRESS, endpoint: sid, address: addr }, 'mapping', `virtio_iommu_translate no mapping for ${hex(addr)} for sid=${sid}`, `domain ${domain.id} maps nothing at ${hex(addr)}`, trace, quiet);
    }
    if (trace) {
      trace.push(step(`domain ${domain.id}: mapping [${hex(m.low)}, ${hex(m.high)}] -> ${hex(m.phys)} ${mapFlagsName(m.flags)}`, { domain: domain.id, virtStart: m.low, virtEnd: m.high, physStart: m.phys, flags: mapFlagsName(m.flags) }));
    }
    const readFault = (flag & IOMMU_RO) !== 0 && !(m.flags & VIRTIO_IOMMU_MAP_F_READ);
    const writeFault = (flag & IOMMU_WO) !== 0 && !(m.flags & VIRTIO_IOMMU_MAP_F_WRITE);
    if (readFault || writeFault) {
      const f = (readFault ? VIRTIO_IOMMU_FAULT_F_READ : 0) | (writeFault ? VIRTIO_IOMMU_FAULT_F_WRITE : 0) | VIRTIO_IOMMU_FAULT_F_ADDRESS;
      return this.fault(entry, { reason: VIRTIO_IOMMU_FAULT_R_MAPPING, flags: f, endpoint: sid, address: addr }, 'permission', `virtio_iommu_translate permission error on ${hex(addr)}(${flag}): allowed=${m.flags}`, `the mapping allows ${mapFlagsName(m.flags & 3)}, not ${permName(flag)}`, trace, quiet);
    }
    entry.translatedAddr = (addr - m.low + m.phys) & U64_MAX;
    entry.perm = query ? mapPerm(m.flags) : flag;
    if (trace) trace.push(step(`translated = ${hex(addr)} - ${hex(m.low)} + ${hex(m.phys)} = ${hex(entry.translatedAddr)}, perm ${permName(entry.perm)}${query ? ' (the mapping\'s; QEMU answers the requested flag)' : ' (the requested flag)'}, mask ${hex(mask)}`, { translated: entry.translatedAddr, perm: permName(entry.perm), mask }));
    return entry;
  }

  /**
   * The number fast path of an endpoint (fast-path.ts): its state now, as probe() would find it;
   * undefined when the page size is not a power of two (page_size_mask 0).
   */
  numberTranslatorFor(r: VirtioIommuRegion): EndpointTranslator | undefined {
    const page = this.minPageSize();
    if (page <= 0n) return undefined;
    const sid = r.sid;
    const ep = this.endpointMap.get(sid);
    const make = (state: number) => new EndpointTranslator(state, ep?.domain?.mappings, this.reservedRegions, this.memory, page, this.flags.exactLookup);
    if (this.bypassed(sid)) return make(EP_BYPASS);
    if (!ep) return make(EP_UNKNOWN);
    return make(ep.domain ? EP_DOMAIN : EP_NO_DOMAIN);
  }

  /** The mapping translate uses for addr: the one containing it, or what QEMU's lookup of [addr, addr + 1] meets first. */
  private lookup(domain: Domain, addr: bigint, trace: Trace | undefined): Mapping | undefined {
    const exact = domain.mappings.find(addr);
    if (this.flags.exactLookup) return exact;
    const hit = domain.mappings.qemuLookup(addr, (addr + 1n) & U64_MAX);
    if (hit && hit !== exact && trace) {
      trace.push(step(`QEMU 7.2 looks up [${hex(addr)}, ${hex(addr + 1n)}] in the domain's GTree and meets the mapping at ${hex(hit.low)} first: ${hex(addr)} translates below its phys_start; the specification ${exact ? 'takes the mapping containing it' : 'faults here'}`, { profileNote: 'lookup' }));
    }
    return hit;
  }

  private fault(entry: IOMMUTLBEntry, f: { reason: number; flags: number; endpoint: number; address: bigint }, site: string | undefined, message: string | undefined, why: string, trace: Trace | undefined, quiet: boolean): IOMMUTLBEntry {
    const rec = faultRecord(f);
    if (!quiet) {
      this.faults.push(rec);
      if (this.faults.length > LOG_LIMIT) this.faults.splice(0, this.faults.length - LOG_LIMIT);
      if (site !== undefined && message !== undefined && !this.reportedOnce.has(site)) {
        this.reportedOnce.add(site);
        this.report(message);
      }
    }
    if (trace) {
      const fields: Record<string, TraceFieldValue> = { reason: faultReasonName(f.reason), flags: f.flags, endpoint: f.endpoint, address: f.address, record: rec.bytes };
      trace.push({
        kind: 'fault',
        summary: `${faultReasonName(f.reason)}: ${why}; ${quiet ? 'a query reports no fault' : 'fault reported on the event queue'}: ${rec.text}`,
        fields,
      });
    }
    return entry;
  }

  private report(m: string): void {
    this.log.push(m);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  // --- views --------------------------------------------------------------------------------

  /** Config, domains > endpoints and mappings, endpoints in no domain, reserved regions (PROBE's properties), faults. */
  describeState(): ModelStateNode[] {
    const c = this.config;
    const ep = (e: Endpoint): ModelStateNode => ({ label: `endpoint ${hex(e.id)}`, description: `${sidBdf(e.id)}, ${this.regionMap.get(e.id)?.name ?? ''}${this.bypassed(e.id) ? ', bypassed' : ''}` });
    const domains = [...this.domainMap.values()].sort((a, b) => a.id - b.id);
    const loose = [...this.regionMap.values()].filter((r) => this.endpointMap.get(r.sid)?.domain === undefined);
    return [
      {
        label: 'config',
        description: `page_size_mask ${hex(c.pageSizeMask)}, bypass ${c.bypass ? 1 : 0}${this.flags.profile === 'current' ? '' : `, profile ${this.flags.profile}`}`,
        children: [
          { label: 'page_size_mask', description: `${hex(c.pageSizeMask)} (granule ${hex(this.minPageSize())})` },
          { label: 'input_range', description: `[${hex(c.inputStart)}, ${hex(c.inputEnd)}]` },
          { label: 'domain_range', description: `[${c.domainStart}, ${c.domainEnd}]` },
          { label: 'probe_size', description: String(c.probeSize) },
          { label: 'bypass', description: `${c.bypass ? 1 : 0} (boot-bypass ${this.bootBypass ? 1 : 0})` },
        ],
      },
      {
        label: 'domains',
        description: String(domains.length),
        children: domains.map((d) => ({
          label: `domain ${d.id}`,
          description: `${d.bypass ? 'bypass, ' : ''}${d.endpoints.length} endpoint(s), ${d.mappings.size} mapping(s)`,
          children: [
            ...d.endpoints.map(ep),
            ...d.mappings.all().map((m) => ({ label: `[${hex(m.low)}, ${hex(m.high)}]`, description: `-> ${hex(m.phys)} ${mapFlagsName(m.flags)}` })),
          ],
        })),
      },
      {
        label: 'endpoints in no domain',
        description: String(loose.length),
        children: loose.map((r) => ({ label: `endpoint ${hex(r.sid)}`, description: `${sidBdf(r.sid)}, ${this.bypassed(r.sid) ? 'bypasses (config.bypass)' : 'faults (R_DOMAIN or R_UNKNOWN)'}` })),
      },
      {
        label: 'reserved regions',
        description: `${this.reservedRegions.length} (PROBE: RESV_MEM properties)`,
        children: this.reservedRegions.map((r) => ({ label: `[${hex(r.low)}, ${hex(r.high)}]`, description: r.type === 'msi' ? 'MSI: identity' : 'reserved: accesses fault' })),
      },
      ...(this.queue
        ? [
            {
              label: 'request queue',
              description: `${this.queue.layout.size} entries at ${hex(this.queue.layout.at)} in ${this.memory.name}${this.broken ? `, broken: ${this.broken}` : ''}`,
              children: [
                { label: 'descriptors', description: hex(this.queue.desc) },
                { label: 'available ring', description: hex(this.queue.avail) },
                { label: 'used ring', description: hex(this.queue.used) },
                { label: 'buffers', description: hex(this.queue.buffers) },
                { label: 'last_avail_idx', description: String(this.queue.lastAvail) },
              ],
            },
          ]
        : []),
      {
        label: 'faults',
        description: String(this.faults.length),
        children: this.faults.map((f) => ({ label: faultReasonName(f.reason), description: f.text })),
      },
    ];
  }

  // --- notifiers ----------------------------------------------------------------------------

  /** virtio_iommu_notify_flag_changed: MAP is fine, DEVIOTLB_UNMAP is refused (-EINVAL). */
  endpointFlagsChanged(_r: VirtioIommuRegion, _old: IOMMUNotifierFlag, now: IOMMUNotifierFlag): EngineError | undefined {
    if (now & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) return engineError('notifier-refused', 'Virtio-iommu does not support dev-iotlb yet');
    return undefined;
  }

  /** virtio_iommu_replay: returns the mappings notified. */
  replayEndpoint(r: VirtioIommuRegion, n: IOMMUNotifier): { mappings: number; events: number } {
    const ep = this.endpointMap.get(r.sid);
    if (!ep?.domain) return { mappings: 0, events: 0 };
    const only = r.notifiers.includes(n) ? undefined : n;
    let events = 0;
    for (const m of ep.domain.mappings.all()) {
      if (notifyMap(r, this.memory, m.low, m.high, m.phys, m.flags, only) === undefined) events += pow2Chunks(m.low, m.high).length;
    }
    return { mappings: ep.domain.mappings.size, events };
  }

  /** Every mapping of the endpoint's domain as one entry (for views). */
  endpointMappings(r: VirtioIommuRegion, sink: (e: IOMMUTLBEntry) => void): void {
    const ep = this.endpointMap.get(r.sid);
    if (!ep?.domain || ep.domain.bypass || this.bypassed(r.sid)) return;
    for (const m of ep.domain.mappings.all()) {
      for (const c of chunksOf(m)) sink({ targetAs: this.memory, iova: c.iova, translatedAddr: c.phys, addrMask: c.mask, perm: mapPerm(m.flags) });
    }
  }
}

/** A mapping as aligned power-of-two pieces (what a view's runs are built from). */
function chunksOf(m: Mapping): Array<{ iova: bigint; phys: bigint; mask: bigint }> {
  const out: Array<{ iova: bigint; phys: bigint; mask: bigint }> = [];
  let phys = m.phys;
  let va = m.low;
  for (;;) {
    let size = va === 0n ? 1n << 63n : va & -va;
    while (va + size - 1n > m.high) size >>= 1n;
    out.push({ iova: va, phys, mask: size - 1n });
    if (va + size - 1n >= m.high) break;
    va += size;
    phys += size;
  }
  return out;
}

function step(summary: string, fields: Record<string, TraceFieldValue>) {
  return { kind: 'model' as const, summary, fields };
}

type ParsedCommand = VirtioIommuRequest | { readonly type: 'config-bypass'; readonly value: number } | { readonly type: 'kick' };

/** A scenario command as a request: `op` names it, fields as the config spells them. */
export function parseCommand(c: ModelCommand): ParsedCommand | EngineError {
  const op = typeof c.op === 'number' ? c.op : c.op.toLowerCase().replace(/_/g, '-');
  const num = (k: string): bigint | undefined => {
    const v = c[k];
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
    return undefined;
  };
  const need = (k: string, bits: number): bigint | EngineError => {
    const v = num(k);
    if (v === undefined) return engineError('virtio-iommu-command', `${String(c.op)} needs a number "${k}"`);
    if (v < 0n || v >= 1n << BigInt(bits)) return engineError('virtio-iommu-command', `${String(c.op)}: ${k} ${hex(v)} does not fit in ${bits} bits`);
    return v;
  };
  const u32 = (k: string) => need(k, 32);
  if (op === 'kick') return { type: 'kick' };
  if (op === 'config-bypass') {
    const v = need('value', 8);
    return typeof v === 'bigint' ? { type: 'config-bypass', value: Number(v) } : v;
  }
  const type = typeof op === 'number' ? op : REQUEST_TYPES[op];
  if (type === undefined) return engineError('virtio-iommu-command', `unknown request ${String(c.op)} (attach, detach, map, unmap, probe, config-bypass, kick, or a request type number)`);
  if (type === VIRTIO_IOMMU_T_PROBE) {
    const ep = u32('endpoint');
    return typeof ep === 'bigint' ? { type: 'probe', endpoint: Number(ep) } : ep;
  }
  if (type === VIRTIO_IOMMU_T_ATTACH || type === VIRTIO_IOMMU_T_DETACH) {
    const domain = u32('domain');
    const endpoint = u32('endpoint');
    if (typeof domain !== 'bigint') return domain;
    if (typeof endpoint !== 'bigint') return endpoint;
    if (type === VIRTIO_IOMMU_T_DETACH) return { type: 'detach', domain: Number(domain), endpoint: Number(endpoint) };
    const f = c.flags;
    const flags = f === undefined || f === 'none' ? 0 : f === 'bypass' ? VIRTIO_IOMMU_ATTACH_F_BYPASS : num('flags');
    if (flags === undefined) return engineError('virtio-iommu-command', `attach flags "${String(f)}": bypass, none or a number`);
    return { type: 'attach', domain: Number(domain), endpoint: Number(endpoint), flags: Number(flags) };
  }
  if (type === VIRTIO_IOMMU_T_MAP || type === VIRTIO_IOMMU_T_UNMAP) {
    const domain = u32('domain');
    const virtStart = need('virt-start', 64);
    const virtEnd = need('virt-end', 64);
    for (const v of [domain, virtStart, virtEnd]) if (typeof v !== 'bigint') return v;
    if (type === VIRTIO_IOMMU_T_UNMAP) return { type: 'unmap', domain: Number(domain), virtStart: virtStart as bigint, virtEnd: virtEnd as bigint };
    const physStart = need('phys-start', 64);
    if (typeof physStart !== 'bigint') return physStart;
    const flags = mapFlags(c.flags);
    if (flags === undefined) return engineError('virtio-iommu-command', `map flags "${String(c.flags)}": letters r, w, m (read, write, mmio), none, or a number`);
    return { type: 'map', domain: Number(domain), virtStart: virtStart as bigint, virtEnd: virtEnd as bigint, physStart, flags };
  }
  return { type: 'unknown', code: type };
}

/** `rw`, `r`, `w`, `rwm`, `none`, or the raw flags. */
export function mapFlags(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 32n) return Number(v);
  if (typeof v !== 'string') return undefined;
  if (v === 'none') return 0;
  if (!/^[rwm]+$/.test(v)) return undefined;
  return (v.includes('r') ? VIRTIO_IOMMU_MAP_F_READ : 0) | (v.includes('w') ? VIRTIO_IOMMU_MAP_F_WRITE : 0) | (v.includes('m') ? VIRTIO_IOMMU_MAP_F_MMIO : 0);
}

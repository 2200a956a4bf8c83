/**
 * Memory regions, as QEMU's memory API has them: containers with subregions at offsets and
 * priorities, RAM with contents, MMIO sinks (or a model's own ops), aliases into another region,
 * and IOMMU regions (iommu.ts). A region's place in a container is a Subregion, so that the same
 * leaf can appear where the config puts it without QEMU's one-parent rule getting in the way.
 */
import { MemTxResult, type MemTxAttrs } from './attrs';
import { engineError, type EngineError } from './errors';
import { SparseMemory, type AccessSize, type MemoryBacking } from './guest-memory';
import { hex } from './hex';

export type RegionKind = 'container' | 'ram' | 'mmio' | 'alias' | 'iommu';

/** Bumped on every change to any container's subregions; address spaces rebuild their flat view when it moves. */
let topologyGeneration = 0;
export function currentTopologyGeneration(): number {
  return topologyGeneration;
}
export function bumpTopology(): void {
  topologyGeneration++;
}

export interface Subregion {
  readonly region: MemoryRegion;
  readonly offset: bigint;
  readonly priority: number;
  /** Config source id of the placement (an address-space entry). */
  readonly source?: string;
}

const NO_SUBREGIONS: readonly Subregion[] = Object.freeze([]);

export abstract class MemoryRegion {
  abstract readonly kind: RegionKind;
  /** Subregions in the order they were added; `subregions` sorts them when asked. */
  private readonly added: Subregion[] = [];
  private sorted: Subregion[] | undefined;

  /**
   * Sorted as QEMU keeps them: higher priority first, and among equals the newest first. Kept in
   * the order added and sorted once when read, so that placing n regions costs n log n, not the
   * n² of inserting each at its place.
   */
  get subregions(): readonly Subregion[] {
    if (this.added.length === 0) return NO_SUBREGIONS;
    if (this.sorted === undefined) {
      const newestFirst = this.added.slice().reverse();
      // A stable sort keeps newest-first among equal priorities.
      this.sorted = newestFirst.sort((a, b) => b.priority - a.priority);
    }
    return this.sorted;
  }

  /** Config source id of the region's definition. */
  source?: string;

  constructor(
    readonly name: string,
    readonly size: bigint,
  ) {}

  /** A region that is drawn in a flat view as itself (not a pure container or an alias). */
  get terminates(): boolean {
    return this.kind !== 'container' && this.kind !== 'alias';
  }

  /** memory_region_add_subregion_overlap: a new subregion goes before every one of lower or equal priority. */
  addSubregion(region: MemoryRegion, offset: bigint, priority = 0, source?: string): EngineError | undefined {
    if (offset < 0n) return engineError('bad-offset', `subregion ${region.name}: negative offset`);
    if (region === this) return engineError('subregion-cycle', `${this.name} cannot contain itself`);
    this.added.push({ region, offset, priority, source });
    this.sorted = undefined;
    bumpTopology();
    return undefined;
  }

  removeSubregion(region: MemoryRegion, offset?: bigint): boolean {
    const sub = this.subregions.find((s) => s.region === region && (offset === undefined || s.offset === offset));
    if (sub === undefined) return false;
    this.added.splice(this.added.indexOf(sub), 1);
    this.sorted = undefined;
    bumpTopology();
    return true;
  }
}

export class ContainerRegion extends MemoryRegion {
  readonly kind = 'container' as const;
}

export class RamRegion extends MemoryRegion {
  readonly kind = 'ram' as const;
  readonly backing: MemoryBacking;
  /**
   * A ROM (QEMU's memory_region_init_rom, or RAM made read-only by memory_region_set_readonly):
   * reads as RAM, while a write through an address space fails (MEMTX_DECODE_ERROR: the write goes
   * to memory_region_dispatch_write, whose unassigned accepts() refuses it). Its backing can still
   * be filled directly, as QEMU's ROM loader does.
   */
  rom = false;
  /**
   * A ROM device in ROMD mode (QEMU's memory_region_init_rom_device, `romd` in `info mtree`: a
   * flash such as virt's pflash): reads as RAM, while a write goes to the device's MMIO ops, which
   * the engine does not model. The write is accepted (MEMTX_OK, as the flash devices answer) and
   * changes nothing; on a real flash it starts a command, after which reads answer the command.
   */
  romd = false;
  constructor(name: string, size: bigint, backing?: MemoryBacking) {
    super(name, size);
    this.backing = backing ?? new SparseMemory(size, name);
  }
}

/** A region's kind as QEMU's `info mtree` names it: `rom` for a ROM, `romd` for a ROM device, else the region's kind. */
export function regionKindName(r: MemoryRegion): string {
  return r instanceof RamRegion && (r.rom || r.romd) ? (r.rom ? 'rom' : 'romd') : r.kind;
}

/** What a write to a ROM device does in the engine, for the steps and traces that show one. */
export const ROMD_WRITE_NOTE = "a ROM device's write goes to its MMIO ops, which the engine does not model: nothing is written";

/** An MMIO access that reached a region, kept for views and scenarios. */
export interface MmioAccessRecord {
  readonly op: 'read' | 'write';
  readonly offset: bigint;
  readonly size: AccessSize;
  readonly value: bigint;
  readonly attrs: MemTxAttrs;
}

export interface MmioOps {
  read(offset: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult };
  write(offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): MemTxResult;
  /** valid.max_access_size: longer accesses are split into pieces this size or smaller (default 8). */
  readonly maxAccessSize?: AccessSize;
}

/**
 * MMIO: without ops it is a named sink (reads return 0, writes are dropped, all recorded); a model
 * gives ops for the registers or the behaviour it owns (for example the TZ MPC's blocked region).
 */
export class MmioRegion extends MemoryRegion {
  readonly kind = 'mmio' as const;
  readonly log: MmioAccessRecord[] = [];
  /** Oldest records are dropped past this many. */
  logLimit = 1024;
  /** What a read of a region without ops returns (`reads-as`; an unassigned PCI window reads all ones). */
  readsAs = 0n;
  constructor(name: string, size: bigint, readonly ops?: MmioOps) {
    super(name, size);
  }

  record(r: MmioAccessRecord): void {
    this.log.push(r);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }
}

export class AliasRegion extends MemoryRegion {
  readonly kind = 'alias' as const;
  constructor(
    name: string,
    size: bigint,
    readonly target: MemoryRegion,
    readonly targetOffset: bigint,
  ) {
    super(name, size);
  }
}

/** Follows aliases to the region that is actually there, with the offset inside it. */
export function resolveAlias(mr: MemoryRegion, offset = 0n): { region: MemoryRegion; offset: bigint } {
  let r = mr;
  let off = offset;
  for (let depth = 0; r instanceof AliasRegion && depth < 64; depth++) {
    off += r.targetOffset;
    r = r.target;
  }
  return { region: r, offset: off };
}

export function describeRegion(mr: MemoryRegion): string {
  return `${mr.name} (${mr.kind}, ${hex(mr.size)} bytes)`;
}

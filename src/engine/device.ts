/**
 * What a model provides besides its IOMMU regions: a register file reachable as MMIO, and the
 * device object the config names (one TZ MPC, one SMMUv3 with a region per stream...).
 */
import type { AddressSpace } from './address-space';
import type { MemTxAttrs, MemTxResult } from './attrs';
import type { EngineError } from './errors';
import type { AccessSize } from './guest-memory';
import type { IOMMUMemoryRegion } from './iommu';
import type { IOMMUAccessFlags } from './iotlb';
import { MmioRegion, type MemoryRegion } from './memory';

export interface RegisterInfo {
  readonly name: string;
  /** Byte offset in the register block. */
  readonly offset: number;
  /** Width in bytes. */
  readonly width: AccessSize;
  readonly access: 'rw' | 'ro' | 'wo';
  readonly reset: bigint;
  readonly description: string;
  /** What reading it changes, when it does (TZ MPC BLK_LUT with AUTOINC advances BLK_IDX). */
  readonly readSideEffects?: string;
}

export interface RegisterFile {
  readonly registers: readonly RegisterInfo[];
  read(offset: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult };
  write(offset: bigint, size: AccessSize, value: bigint, attrs: MemTxAttrs): MemTxResult;
  /**
   * A read without its side effects, for expectations and views. Only files with read side
   * effects need it; others are peeked by reading.
   */
  peek?(offset: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult };
  /**
   * The largest access the device accepts (MemoryRegionOps valid.max_access_size); QEMU's memory
   * core splits longer accesses into pieces this size or smaller. Default 8.
   */
  readonly maxAccessSize?: AccessSize;
}

/** A read of a register file without side effects (peek when the file has one). */
export function peekRegister(file: RegisterFile, offset: bigint, size: AccessSize, attrs: MemTxAttrs): { value: bigint; result: MemTxResult } {
  return file.peek ? file.peek(offset, size, attrs) : file.read(offset, size, attrs);
}

/**
 * An event or fault record a model wrote where its driver reads them (SMMUv3's event queue, VT-d's
 * fault-recording registers), or would have written had a control bit allowed it.
 */
export interface ModelEventRecord {
  /** The model's name for it: SMMUv3 F_TRANSLATION, VT-d's fault reason... */
  readonly type: string;
  /** Its numeric code (the event ID, the fault reason). */
  readonly code: number;
  /** True when it was written where the guest reads it; false when suppressed or lost. */
  readonly recorded: boolean;
  /** What became of it, in words. */
  readonly disposition: string;
  /** Its fields by the specification's names (sid, inputAddr, rnw...). */
  readonly fields: Readonly<Record<string, bigint | number | boolean | string>>;
  /** The raw record as 32-bit words, when the model writes one. */
  readonly words?: readonly number[];
}

/** The records a model made, oldest first: `total` counts every one ever made. */
export interface ModelEventLog {
  readonly total: number;
  /** The records made since `total` was `mark` (as many as the model still holds). */
  since(mark: number): readonly ModelEventRecord[];
}

export function findRegister(file: RegisterFile, nameOrOffset: string | number): RegisterInfo | undefined {
  if (typeof nameOrOffset === 'number') return file.registers.find((r) => r.offset === nameOrOffset);
  const want = nameOrOffset.toUpperCase();
  return file.registers.find((r) => r.name.toUpperCase() === want);
}

/** A command for a model's command interface: its name or opcode and its fields. */
export interface ModelCommand {
  readonly op: string | number;
  readonly [field: string]: string | number | bigint | boolean | undefined;
}

/** A node of a model's own state for views: virtio-iommu's domains with their endpoints and mappings. */
export interface ModelStateNode {
  readonly label: string;
  readonly description?: string;
  readonly children?: readonly ModelStateNode[];
}

/** An IOMMU as the config names it: a model instance owning one or more IOMMU regions. */
export interface IommuDevice {
  readonly name: string;
  readonly model: string;
  /** Regions that exist now (for SMMUv3, one per stream seen so far). */
  regions(): readonly IOMMUMemoryRegion[];
  /**
   * The region a device with this requester ID translates through. Models with one region
   * return it whatever the ID. `pasid`: the PASID a transaction carries (MemTxAttrs.pasid), for
   * models whose PASIDs are address spaces of their own (VT-d's vtd_find_add_as(bus, devfn,
   * pasid)); models without ignore it and return the requester ID's region.
   */
  regionFor(requesterId: number | undefined, pasid?: number): IOMMUMemoryRegion;
  /**
   * QEMU's checks once the machine is complete (its machine-done notifiers): given every device of
   * the machine, what the model's QEMU refuses, by device name (QEMU stops there). Optional.
   */
  machineDone?(devices: ReadonlyArray<{ readonly name: string; readonly kind: string }>): ReadonlyArray<{ readonly device: string; readonly message: string }>;
  /** Regions the model owns that accesses can land on (the TZ MPC's blocked-io region). */
  internalRegions?(): readonly MemoryRegion[];
  readonly registers?: RegisterFile;
  /** The register file as an MMIO region, to place in an address space. */
  readonly registerRegion?: MmioRegion;
  /**
   * Mappings written directly rather than through tables the guest programs (the `table` model):
   * what scenario `map` and `unmap` steps call. `unmap` removes the mappings wholly inside the
   * range and says how many it removed.
   */
  readonly directMappings?: DirectMappings;
  /**
   * Commands as its driver would issue them (SMMUv3's command queue, virtio-iommu's requests):
   * each says what it did, in words, with an error number (0: none) and, for models whose
   * commands end with a status, its name; or the whole call fails with an error value.
   */
  issueCommands?(cmds: readonly ModelCommand[]): ReadonlyArray<{ readonly effect: string; readonly error: number; readonly status?: string }> | EngineError;
  /** Whether a command is one the model can issue (checked when a config is loaded). */
  checkCommand?(cmd: ModelCommand): EngineError | undefined;
  /** What the model holds besides its regions' mappings, as a tree (computed now, without side effects). */
  describeState?(): ModelStateNode[];
  /** Back to the state after construction. */
  reset?(): void;
  /** Event or fault records the model makes (expectations and `run --json` read them). */
  readonly eventRecords?: ModelEventLog;
  /**
   * For a query (probe): the record the last probed translation would have made, had it been an
   * access. Cleared by every probe.
   */
  readonly lastProbeEvent?: () => ModelEventRecord | undefined;
  /**
   * For views, without side effects: the device's state decoded, one line per register or piece
   * of state (its name, and its value with what the value means).
   */
  inspect?(): ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** For views, without side effects: what the device makes of one of its regions, in one line. */
  describeRegion?(region: IOMMUMemoryRegion): string | undefined;
}

/** Wraps a register file as an MMIO region. */
export function registerRegion(name: string, size: bigint, file: RegisterFile): MmioRegion {
  return new MmioRegion(name, size, {
    read: (offset, size, attrs) => file.read(offset, size, attrs),
    write: (offset, size, value, attrs) => file.write(offset, size, value, attrs),
    maxAccessSize: file.maxAccessSize,
  });
}

/** A mapping written directly into a model (see IommuDevice.directMappings). */
export interface DirectMapping {
  readonly iova: bigint;
  readonly size: bigint;
  readonly targetAs: AddressSpace;
  /** Address in targetAs that `iova` maps to. */
  readonly target: bigint;
  readonly perm: IOMMUAccessFlags;
  readonly source?: string;
}

export interface DirectMappings {
  map(iommuIdx: number, m: DirectMapping): EngineError | undefined;
  unmap(iommuIdx: number, iova: bigint, size: bigint): number | EngineError;
}

/**
 * Finding the IOMMUs of a live QEMU from its flat memory map, and turning what their registers
 * hold into a config entry. One discoverer per model; SMMUv3 is the first. A new model (VT-d,
 * virtio-iommu) adds an IommuDiscoverer to DISCOVERERS: nothing else in live.ts changes.
 */
import type { FlatView, ParsedMtree } from '../../config/mtree';

export interface FoundIommu {
  readonly model: string;
  /** Where its registers are in system memory (QEMU's region name, base, size). */
  readonly regionName: string;
  readonly base: bigint;
  readonly size: bigint;
  /** The requester IDs that have an IOMMU address space of this IOMMU. */
  readonly requesterIds: ReadonlySet<number>;
}

export interface IommuDiscoverer {
  readonly model: string;
  find(mtree: ParsedMtree, system: FlatView): FoundIommu[];
  /** 32-bit register offsets to read, by name. */
  readonly registers: ReadonlyArray<readonly [string, number]>;
  /** The `iommus:` entry for the config, given the register values read. */
  configEntry(found: FoundIommu, regs: ReadonlyMap<string, bigint>, qemu: { major: number; minor: number }): { entry: Record<string, unknown>; notes: string[] };
}

const hex = (v: bigint | number) => '0x' + v.toString(16);

/** QEMU's hw/arm/smmuv3.c: MMIO region "arm-smmuv3"; IOMMU regions "smmuv3-iommu-memory-region-<sid>-<n>" (smmu-common.c). */
export const smmuv3Discoverer: IommuDiscoverer = {
  model: 'smmuv3',
  find(mtree, system) {
    const mmio = system.ranges.filter((r) => r.name === 'arm-smmuv3' && r.offsetInRegion === 0n);
    const sids = new Set<number>();
    for (const v of mtree.views) {
      for (const as of v.addressSpaces) {
        const m = /^smmuv3-iommu-memory-region-(\d+)-\d+$/.exec(as.name);
        if (m) sids.add(Number(m[1]));
      }
    }
    // QEMU's virt machine has one SMMUv3; with several, each would need its bus numbers to
    // attribute requester IDs (not done: every ID is given to the first).
    return mmio.map((r, i) => ({ model: 'smmuv3', regionName: r.name, base: r.start, size: r.end - r.start + 1n, requesterIds: i === 0 ? sids : new Set() }));
  },
  registers: [
    ['IDR0', 0x00], ['IDR1', 0x04], ['IDR2', 0x08], ['IDR3', 0x0c], ['IDR4', 0x10], ['IDR5', 0x14], ['IIDR', 0x18], ['AIDR', 0x1c],
    ['CR0', 0x20], ['CR0ACK', 0x24], ['CR1', 0x28], ['CR2', 0x2c], ['STATUSR', 0x40], ['GBPA', 0x44],
    ['IRQ_CTRL', 0x50], ['IRQ_CTRL_ACK', 0x54], ['GERROR', 0x60], ['GERRORN', 0x64],
    ['STRTAB_BASE_LO', 0x80], ['STRTAB_BASE_HI', 0x84], ['STRTAB_BASE_CFG', 0x88],
    ['CMDQ_BASE_LO', 0x90], ['CMDQ_BASE_HI', 0x94], ['CMDQ_PROD', 0x98], ['CMDQ_CONS', 0x9c],
    ['EVENTQ_BASE_LO', 0xa0], ['EVENTQ_BASE_HI', 0xa4], ['EVENTQ_PROD', 0xa8], ['EVENTQ_CONS', 0xac],
  ],
  configEntry(found, regs, qemu) {
    const g = (n: string) => regs.get(n) ?? 0n;
    const notes: string[] = [];
    const is72 = qemu.major === 7 && qemu.minor === 2;
    if (!is72) notes.push(`QEMU ${qemu.major}.${qemu.minor}: no profile for it; the SMMU follows the architecture`);
    const registers: Record<string, string> = {
      'strtab-base': hex((g('STRTAB_BASE_HI') << 32n) | g('STRTAB_BASE_LO')),
      'strtab-base-cfg': hex(g('STRTAB_BASE_CFG')),
      'cmdq-base': hex((g('CMDQ_BASE_HI') << 32n) | g('CMDQ_BASE_LO')),
      'cmdq-cons': hex(g('CMDQ_CONS')),
      // QEMU consumes commands as PROD is written, so PROD equals CONS unless the queue stopped
      // on an error; writing CONS here keeps the engine from running commands again.
      'cmdq-prod': hex(g('CMDQ_CONS') & 0xfffffn),
      'eventq-base': hex((g('EVENTQ_BASE_HI') << 32n) | g('EVENTQ_BASE_LO')),
      'eventq-prod': hex(g('EVENTQ_PROD')),
      'eventq-cons': hex(g('EVENTQ_CONS')),
      cr1: hex(g('CR1')),
      cr2: hex(g('CR2')),
      'irq-ctrl': hex(g('IRQ_CTRL')),
      cr0: hex(g('CR0')),
    };
    if ((g('CMDQ_PROD') & 0xfffffn) !== (g('CMDQ_CONS') & 0xfffffn)) {
      notes.push(`CMDQ_PROD ${hex(g('CMDQ_PROD'))} != CMDQ_CONS ${hex(g('CMDQ_CONS'))}: commands QEMU has not consumed are not run here`);
    }
    if (g('GERROR') !== g('GERRORN')) notes.push(`GERROR ${hex(g('GERROR'))} / GERRORN ${hex(g('GERRORN'))}: global errors active in QEMU are not reproduced`);
    const entry: Record<string, unknown> = {
      model: 'smmuv3',
      'walk-memory': 'system',
      ...(is72 ? { profile: 'qemu-7.2' } : {}),
      registers: { as: 'system', at: hex(found.base), ...registers },
      description: `QEMU ${found.regionName} at ${hex(found.base)}; IDR0 ${hex(g('IDR0'))}, IDR1 ${hex(g('IDR1'))}, IDR5 ${hex(g('IDR5'))}`,
    };
    return { entry, notes };
  },
};

export const DISCOVERERS: readonly IommuDiscoverer[] = [smmuv3Discoverer];

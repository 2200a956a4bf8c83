/**
 * Finding the IOMMUs of a live QEMU from its flat memory map, and turning what their registers
 * hold into a config entry. One discoverer per model: SMMUv3 and Intel VT-d. A new model
 * (virtio-iommu) adds an IommuDiscoverer to DISCOVERERS: nothing else in live.ts changes.
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

/** A PCI function as query-pci reports it. */
export interface PciFunction {
  readonly bus: number;
  readonly slot: number;
  readonly function: number;
}

export interface IommuDiscoverer {
  readonly model: string;
  /** The config name's stem: `smmu0`, `vtd0`. */
  readonly namePrefix: string;
  find(mtree: ParsedMtree, system: FlatView, pci: readonly PciFunction[]): FoundIommu[];
  /** 32-bit register offsets to read, by name. */
  readonly registers: ReadonlyArray<readonly [string, number]>;
  /** The `iommus:` entry for the config, given the register values read. */
  configEntry(found: FoundIommu, regs: ReadonlyMap<string, bigint>, qemu: { major: number; minor: number }): { entry: Record<string, unknown>; notes: string[] };
}

const hex = (v: bigint | number) => '0x' + v.toString(16);

/** QEMU's hw/arm/smmuv3.c: MMIO region "arm-smmuv3"; IOMMU regions "smmuv3-iommu-memory-region-<sid>-<n>" (smmu-common.c). */
export const smmuv3Discoverer: IommuDiscoverer = {
  model: 'smmuv3',
  namePrefix: 'smmu',
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

/**
 * Intel VT-d (QEMU 7.2 hw/i386/intel_iommu.c): the register block is the MMIO region
 * "intel_iommu" (vtd_realize, DMAR_REG_SIZE bytes; 0xfed90000 on q35); each PCI function behind
 * it has an address space "vtd-root" whose root region is "vtd-SS.F" (vtd_find_add_as: slot and
 * function only, the bus is a pointer), and a PASID address space "vtd-SS.F-pasid-N". The bus
 * number comes from query-pci: every function whose slot and function have a VT-d address space
 * is behind it (one DMAR unit covers the whole q35 PCI hierarchy).
 *
 * Reading the registers has no side effect (vtd_mem_read: RTADDR and IQA from the latched state,
 * everything else the register array).
 */
export const vtdDiscoverer: IommuDiscoverer = {
  model: 'intel-iommu',
  namePrefix: 'vtd',
  find(mtree, system, pci) {
    const mmio = system.ranges.filter((r) => r.name === 'intel_iommu' && r.offsetInRegion === 0n);
    const fns = new Set<string>();
    for (const v of mtree.views) {
      for (const as of v.addressSpaces) {
        const m = /^vtd-([0-9a-f]{2})\.([0-7])$/.exec(as.root);
        if (as.name === 'vtd-root' && m) fns.add(`${parseInt(m[1]!, 16)}.${m[2]}`);
      }
    }
    const rids = new Set<number>();
    for (const d of pci) if (fns.has(`${d.slot}.${d.function}`)) rids.add((d.bus << 8) | (d.slot << 3) | d.function);
    return mmio.map((r, i) => ({ model: 'intel-iommu', regionName: r.name, base: r.start, size: r.end - r.start + 1n, requesterIds: i === 0 ? rids : new Set() }));
  },
  registers: [
    ['VER', 0x00], ['CAP_LO', 0x08], ['CAP_HI', 0x0c], ['ECAP_LO', 0x10], ['ECAP_HI', 0x14], ['GSTS', 0x1c],
    ['RTADDR_LO', 0x20], ['RTADDR_HI', 0x24], ['FSTS', 0x34], ['FECTL', 0x38], ['FEDATA', 0x3c], ['FEADDR', 0x40], ['FEUADDR', 0x44],
    ['PMEN', 0x64], ['IQH_LO', 0x80], ['IQH_HI', 0x84], ['IQT_LO', 0x88], ['IQT_HI', 0x8c], ['IQA_LO', 0x90], ['IQA_HI', 0x94],
    ['ICS', 0x9c], ['IECTL', 0xa0], ['IEDATA', 0xa4], ['IEADDR', 0xa8], ['IEUADDR', 0xac], ['IRTA_LO', 0xb8], ['IRTA_HI', 0xbc],
    ['FRCD0_LO', 0x220], ['FRCD0_LO_HI', 0x224], ['FRCD0_HI', 0x228], ['FRCD0_HI_HI', 0x22c],
  ],
  configEntry(found, regs, qemu) {
    const g = (n: string) => regs.get(n) ?? 0n;
    const q = (n: string) => (g(`${n}_HI`) << 32n) | g(`${n}_LO`);
    const notes: string[] = [];
    const is72 = qemu.major === 7 && qemu.minor === 2;
    if (!is72) notes.push(`QEMU ${qemu.major}.${qemu.minor}: no profile for it; the IOMMU follows the architecture (current QEMU)`);
    const cap = q('CAP');
    const ecap = q('ECAP');
    const gsts = g('GSTS');
    const frcdHi = (g('FRCD0_HI_HI') << 32n) | g('FRCD0_HI');
    const frcdLo = (g('FRCD0_LO_HI') << 32n) | g('FRCD0_LO');
    const bitOf = (v: bigint, b: number) => ((v >> BigInt(b)) & 1n) === 1n;
    // The device's properties, as vtd_cap_init turned them into CAP and ECAP.
    const props: Record<string, unknown> = {
      'aw-bits': Number((cap >> 16n) & 0x3fn) + 1,
      'caching-mode': bitOf(cap, 7),
      'device-iotlb': bitOf(ecap, 2),
      pt: bitOf(ecap, 6),
      'snoop-control': bitOf(ecap, 7),
      intremap: bitOf(ecap, 3),
      'dma-drain': bitOf(cap, 54),
      ...(bitOf(ecap, 43) ? { 'scalable-mode': true } : {}),
      ...(bitOf(ecap, 40) ? { 'pasid-mode': true } : {}),
    };
    if (((cap >> 8n) & 0x1fn) === 0n) notes.push(`CAP ${hex(cap)} has SAGAW 0 (dma-translation=off): not modelled, the engine offers the SAGAW of aw-bits`);
    if (bitOf(ecap, 4)) notes.push('ECAP.EIM (eim=on) is not modelled: interrupts are not remapped here');
    // The queue: restore its head, and its tail only where QEMU has consumed up to it (a queue
    // stopped on an error keeps IQH != IQT, and the engine must not run what QEMU did not).
    const qie = (gsts & (1n << 26n)) !== 0n;
    const iqh = q('IQH');
    const iqt = q('IQT');
    if (iqh !== iqt) notes.push(`IQH ${hex(iqh)} != IQT ${hex(iqt)}${bitOf(g('FSTS'), 4) ? ' (FSTS.IQE: the queue stopped on an error)' : ''}: descriptors QEMU has not processed are not run here`);
    if (qie && bitOf(ecap, 43)) notes.push('IQA.DW is not readable in QEMU 7.2 (vtd_mem_read returns the base and QS only): the queue is taken as 128-bit descriptors');
    const registers: Record<string, string> = { rtaddr: hex(q('RTADDR')) };
    if (qie) Object.assign(registers, { iqa: hex(q('IQA')), iqh: hex(iqh), iqt: hex(iqh) });
    Object.assign(registers, {
      fectl: hex(g('FECTL') & 0x80000000n),
      fedata: hex(g('FEDATA')),
      feaddr: hex(g('FEADDR')),
      feuaddr: hex(g('FEUADDR')),
      iectl: hex(g('IECTL') & 0x80000000n),
      iedata: hex(g('IEDATA')),
      ieaddr: hex(g('IEADDR')),
      ieuaddr: hex(g('IEUADDR')),
      irta: hex(q('IRTA')),
    });
    // One GCMD write sets every status bit QEMU shows: SRTP latches RTADDR, QIE the queue, TE last in effect.
    const gcmd = (gsts & (1n << 31n)) | (gsts & (1n << 30n)) | (gsts & (1n << 26n)) | (gsts & (1n << 25n)) | (gsts & (1n << 24n));
    if (gcmd !== 0n) registers.gcmd = hex(gcmd);
    if (bitOf(frcdHi, 63)) {
      notes.push(
        `FRCD0 holds a pending fault (SID ${hex(frcdHi & 0xffffn)}, reason ${hex((frcdHi >> 32n) & 0xffn)}, ${bitOf(frcdHi, 62) ? 'read' : 'write'} at ${hex(frcdLo)}): not reproduced, so the engine records a fault QEMU would drop (compression of faults, or FSTS.PFO)`,
      );
    }
    const fsts = g('FSTS');
    if (fsts & 0x13n) notes.push(`FSTS ${hex(fsts)} (PFO, PPF or IQE set in QEMU) is not reproduced`);
    if (g('FECTL') & 0x40000000n || g('IECTL') & 0x40000000n || g('ICS') & 1n) notes.push(`pending interrupt conditions (FECTL ${hex(g('FECTL'))}, IECTL ${hex(g('IECTL'))}, ICS ${hex(g('ICS'))}) are not reproduced`);
    if (g('PMEN') !== 0n) notes.push(`PMEN ${hex(g('PMEN'))}: protected memory regions are not modelled`);
    const entry: Record<string, unknown> = {
      model: 'intel-iommu',
      'walk-memory': 'system',
      ...(is72 ? { profile: 'qemu-7.2' } : {}),
      ...props,
      registers: { as: 'system', at: hex(found.base), ...registers },
      description: `QEMU ${found.regionName} at ${hex(found.base)}; VER ${hex(g('VER'))}, CAP ${hex(cap)}, ECAP ${hex(ecap)}, GSTS ${hex(gsts)}`,
    };
    return { entry, notes };
  },
};

export const DISCOVERERS: readonly IommuDiscoverer[] = [smmuv3Discoverer, vtdDiscoverer];

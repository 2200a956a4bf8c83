/**
 * The `smmuv3` model: an Arm SMMUv3 as QEMU models it (hw/arm/smmuv3.c, smmu-common.c), with
 * the architecture where QEMU departs from it and a `qemu-7.2` profile that reproduces Debian's
 * QEMU 7.2. One file per concern:
 *   types            profile flags, event codes, the decoded stream configuration
 *   registers        the MMIO register file (IDR0-5, CR0-2, GBPA, queues, GERROR...)
 *   stream-table     STE lookup (linear and 2-level) and decoding
 *   context-descriptor  CD decoding, TTB0/TTB1
 *   walker           VMSAv8-64 stage-1, stage-2 and nested walks; range walks for replay
 *   iotlb            the IOTLB and its invalidations
 *   event-queue      event records and the event queue
 *   command-queue    commands (CFGI, TLBI, SYNC) and the command queue
 *   irq              the wired interrupts and GERROR toggling
 *   region           one IOMMU region per stream, its walk replay
 *   smmuv3           the device: translation, notifiers, config cache
 *   builder          writes STEs, CDs and page tables into RAM for a config or a test
 */
export * from './types';
export * from './registers';
export * from './stream-table';
export * from './context-descriptor';
export * from './walker';
export * from './iotlb';
export * from './event-queue';
export * from './command-queue';
export * from './irq';
export * from './region';
export * from './smmuv3';
export * from './builder';

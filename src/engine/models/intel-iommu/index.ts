/**
 * The `intel-iommu` model: Intel VT-d DMA remapping as QEMU models it (hw/i386/intel_iommu.c),
 * legacy mode, with a `qemu-7.2` profile reproducing Debian's QEMU 7.2. One file per part:
 *   types         register offsets and bits, entry fields, fault reasons, profiles
 *   registers     the register file with QEMU's write, write-1-to-clear and write-only masks
 *   context       root and context entries (vtd_dev_to_context_entry)
 *   walker        second-level tables: translation walks and range walks
 *   fast-path     the number translator (src/engine/fast-path.ts) for shadow checks and views
 *   iotlb         the IOTLB and its invalidations
 *   iova-tree     an address space's record of notified mappings
 *   faults        fault recording, compression, fault events
 *   invalidation  register-based and queued invalidation, descriptors, commands
 *   region        one IOMMU region per PCI device
 *   intel-iommu   the device: translation, notifiers, sync, replay
 *   builder       writes root/context entries and page tables into RAM for a config or a test
 */
export * from './types';
export * from './registers';
export * from './context';
export * from './walker';
export * from './fast-path';
export * from './iotlb';
export * from './iova-tree';
export * from './faults';
export * from './invalidation';
export * from './region';
export * from './intel-iommu';
export * from './builder';

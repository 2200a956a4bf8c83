/**
 * The `virtio-iommu` model: the paravirtual IOMMU as QEMU models it (hw/virtio/virtio-iommu.c),
 * the virtio specification where QEMU departs from it, and a `qemu-7.2` profile. One file per
 * concern:
 *   types          request types, statuses, flags, fault reasons, probe properties, profiles
 *   gtree          the shape of GLib's GTree, which decides the order QEMU's lookups meet mappings
 *   interval-map   a domain's mappings: disjoint IOVA intervals
 *   notify         MAP/UNMAP notifications in power-of-two aligned chunks
 *   faults         fault records for the event queue
 *   region         one IOMMU region per endpoint, its replay
 *   request-queue  the request virtqueue in guest memory (driver and device sides)
 *   wire           requests and PROBE replies as bytes
 *   virtio-iommu   the device: endpoints, domains, requests, translation, bypass
 */
export * from './types';
export * from './gtree';
export * from './interval-map';
export * from './notify';
export * from './faults';
export * from './region';
export * from './request-queue';
export * from './wire';
export * from './virtio-iommu';

/** The engine's public surface. Pure TypeScript: no `vscode`, no Node built-ins. */
export * from './attrs';
export * from './attrs-match';
export * from './address-space';
export * from './consumers';
export * from './device';
export * from './errors';
export * from './guest-memory';
export * from './hex';
export * from './iommu';
export * from './iotlb';
export * from './machine';
export * from './mappings';
export * from './memory';
export * from './scenario';
export * from './trace';
export * from './translate';
export * from './models/table';

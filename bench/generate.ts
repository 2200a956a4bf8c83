/** Generated configs for the load benchmark. */

/** A config with `regions` RAM regions placed in one address space and a table IOMMU with `mappings` mappings. */
export function generatedConfig(regions: number, mappings: number): string {
  const lines = ['iommu-lens: 1', 'name: generated', 'memory:'];
  for (let i = 0; i < regions; i++) lines.push(`  r${i}: { kind: ram, size: 64KiB }`);
  lines.push('iommus:', '  big:', '    model: table', '    size: 16GiB', '    indexes:', '      - name: all', '        mappings:');
  for (let i = 0; i < mappings; i++) lines.push(`          - { iova: ${0x10000 * i}, size: 4KiB, target: system, addr: ${0x10000 * (i % regions)}, perm: rw }`);
  lines.push('address-spaces:', '  system:');
  for (let i = 0; i < regions; i++) lines.push(`    - { at: ${0x10000 * i}, region: r${i} }`);
  lines.push('devices:', '  dev: { iommu: big }', '');
  return lines.join('\n');
}

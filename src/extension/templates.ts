/** The config a new user starts from (New Config from Template). */
export const TEMPLATE = `# An IOMMU Lens device config: see the README for every key.
iommu-lens: 1
name: My machine

memory:
  ram: { kind: ram, size: 64MiB }

iommus:
  iommu0:
    model: table            # a declarative IOMMU; tz-mpc is QEMU's TrustZone MPC
    size: 4GiB
    page-size: 4KiB
    indexes:
      - name: default
        mappings:
          - { iova: 0x0, size: 1MiB, target: system, addr: 0x4000_0000, perm: rw }

address-spaces:
  system:
    - { at: 0x4000_0000, region: ram }

devices:
  cpu:  { as: system }
  dev0: { kind: pci, bdf: "00:01.0", iommu: iommu0 }

scenario:
  - expect: { from: dev0, addr: 0x1000, reaches: { region: ram, offset: 0x1000 } }
`;

/**
 * The `virtio-iommu` model's part of the config schema, and the fields its scenario `command`
 * steps take. Built from the schema's shared pieces, handed in by schema.ts (which imports this
 * file), so that this file imports nothing of the config layer.
 */
import { Type, type TSchema } from '@sinclair/typebox';

export interface SchemaParts {
  readonly Num: TSchema;
  readonly NumWith: (description: string) => TSchema;
  readonly Name: (what: string) => TSchema;
  readonly Description: TSchema;
}

export function virtioIommuSchema(p: SchemaParts): TSchema {
  return Type.Object(
    {
      model: Type.Literal('virtio-iommu'),
      memory: Type.Optional(p.Name('the address space translated and bypassed accesses go to (default: system, QEMU\'s address_space_memory)')),
      profile: Type.Optional(
        Type.Union([Type.Literal('current'), Type.Literal('qemu-7.2')], {
          description: 'current (default): current QEMU, and the virtio specification where QEMU departs (range checks, atomic UNMAP, exact lookup); qemu-7.2: Debian QEMU 7.2 (no granule or aw-bits, no range checks, UNMAP removes what it meets before a split mapping, the [addr, addr + 1] lookup).',
        }),
      ),
      'boot-bypass': Type.Optional(Type.Boolean({ description: 'config.bypass at reset (QEMU default true): endpoints not attached to a domain bypass the IOMMU.' })),
      granule: Type.Optional(
        Type.Union([Type.Literal('4k'), Type.Literal('8k'), Type.Literal('16k'), Type.Literal('64k'), Type.Literal('host')], {
          description: 'The smallest page size, page_size_mask (QEMU 9.0 on; default host, the host page size, 4 KiB here). QEMU 7.2 has TARGET_PAGE_MASK (4 KiB).',
        }),
      ),
      'aw-bits': Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Input range width in bits, 32..64 (QEMU 9.0 on; default 64): input_range.end = 2^aw-bits - 1.' })),
      'domain-range': Type.Optional(Type.Array(p.Num, { minItems: 2, maxItems: 2, description: 'domain_range [start, end] (default [0, 0xffffffff]).' })),
      'reserved-regions': Type.Optional(
        Type.Array(
          Type.Object(
            { start: p.Num, end: p.NumWith('Inclusive end.'), type: Type.Union([Type.Literal('reserved'), Type.Literal('msi')]) },
            { additionalProperties: false, description: 'A reserved memory region, reported by PROBE: reserved (accesses fault) or msi (identity).' },
          ),
          { description: "QEMU's reserved-regions property." },
        ),
      ),
      'request-queue': Type.Optional(
        Type.Object(
          {
            at: p.NumWith('Where the split virtqueue starts in `memory`: descriptor table, available ring, used ring, then 1 KiB of buffers per request slot.'),
            size: Type.Optional(Type.Integer({ minimum: 2, maximum: 256, description: 'Entries, a power of two (default 16).' })),
          },
          { additionalProperties: false, description: 'The request virtqueue in guest memory: command steps then go through it as the driver would, and `cmd: kick` processes chains other steps wrote.' },
        ),
      ),
      description: p.Description,
    },
    { additionalProperties: false, title: 'virtio-iommu (hw/virtio/virtio-iommu.c)' },
  );
}

/** The request fields of a virtio-iommu `command` step (cmd: attach, detach, map, unmap, probe, config-bypass). */
export function virtioIommuCommandFields(p: SchemaParts): Record<string, TSchema> {
  return {
    domain: Type.Optional(p.NumWith('virtio-iommu: the domain ID.')),
    endpoint: Type.Optional(p.NumWith('virtio-iommu: the endpoint ID (the PCI requester ID).')),
    'virt-start': Type.Optional(p.NumWith('virtio-iommu MAP/UNMAP: first IOVA.')),
    'virt-end': Type.Optional(p.NumWith('virtio-iommu MAP/UNMAP: last IOVA (inclusive).')),
    'phys-start': Type.Optional(p.NumWith('virtio-iommu MAP: the physical address virt-start maps to.')),
    flags: Type.Optional(
      Type.Union([Type.String({ pattern: '^([rwm]+|none|bypass)$' }), Type.Integer({ minimum: 0 })], {
        description: 'virtio-iommu MAP: r, w, m (READ, WRITE, MMIO) letters or none; ATTACH: bypass; or the raw flags.',
      }),
    ),
    value: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'virtio-iommu config-bypass: the value written to config.bypass.' })),
  };
}

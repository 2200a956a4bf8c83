/**
 * The device-config format as a JSON Schema, written once here with TypeBox. The same object
 * validates configs (with Ajv, see validate.ts) and is shipped as schema/iommu-lens.schema.json
 * for the editor's YAML and JSON support (`iommu-lens schema` prints it).
 */
import { Type, type TSchema } from '@sinclair/typebox';

const NUMBER_PATTERN = '^\\s*(0[xX][0-9a-fA-F]+(_[0-9a-fA-F]+)*|0[bB][01]+(_[01]+)*|0[oO][0-7]+(_[0-7]+)*|[0-9]+(_[0-9]+)*)\\s*([KMGTPE]iB|B)?\\s*$';

const NUM_TEXT =
  'An integer, or a string: hex (0x...), binary (0b...), octal (0o...) or decimal, with optional _ separators and an optional size unit (B, KiB, MiB, GiB, TiB, PiB, EiB).';

/** An address, size or value: an integer, or a string such as "0x1000_0000" or "4KiB". */
const NumWith = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: NUMBER_PATTERN })], { title: 'number', description });
export const Num = NumWith(NUM_TEXT);

const Name = (what: string) => Type.String({ minLength: 1, description: `The name of ${what}.` });
const Description = Type.Optional(Type.String({ description: 'Free text shown in tooltips.' }));

export const Perm = Type.Union([Type.Literal('rw'), Type.Literal('ro'), Type.Literal('wo'), Type.Literal('none')], {
  title: 'permission',
  description: 'IOMMU access flags: rw, ro, wo or none.',
});

export const Space = Type.Union([Type.Literal('secure'), Type.Literal('non-secure'), Type.Literal('root'), Type.Literal('realm')]);

/** MemTxAttrs. */
export const Attrs = Type.Object(
  {
    unspecified: Type.Optional(Type.Boolean({ description: 'MEMTXATTRS_UNSPECIFIED: the initiator gives no attributes; other keys must be absent.' })),
    secure: Type.Optional(Type.Boolean()),
    space: Type.Optional(Space),
    user: Type.Optional(Type.Boolean()),
    memory: Type.Optional(Type.Boolean()),
    debug: Type.Optional(Type.Boolean()),
    'requester-id': Type.Optional(Num),
    pasid: Type.Optional(Num),
  },
  { additionalProperties: false, title: 'attributes', description: 'Transaction attributes (QEMU MemTxAttrs).' },
);

const IdMatch = Type.Union([Num, Type.Array(Num, { minItems: 2, maxItems: 2, description: 'An inclusive [first, last] range.' })]);

export const AttrsMatcher = Type.Object(
  {
    unspecified: Type.Optional(Type.Boolean()),
    secure: Type.Optional(Type.Boolean()),
    space: Type.Optional(Space),
    user: Type.Optional(Type.Boolean()),
    memory: Type.Optional(Type.Boolean()),
    debug: Type.Optional(Type.Boolean()),
    'requester-id': Type.Optional(IdMatch),
    pasid: Type.Optional(IdMatch),
  },
  { additionalProperties: false, description: 'Attributes a transaction must have to select this index; every key given must match.' },
);

const ContentsWord = Type.Object(
  {
    at: Num,
    value: Type.Optional(Num),
    size: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2), Type.Literal(4), Type.Literal(8)])),
    bytes: Type.Optional(
      Type.Union([Type.Array(Num), Type.String({ pattern: '^[\\s_]*([0-9a-fA-F]{2}[\\s_]*)*$' })], {
        title: 'bytes',
        description: 'Bytes written from `at` on: a list of numbers 0..255, or a string of hex pairs such as "de ad be ef".',
      }),
    ),
  },
  { additionalProperties: false, description: 'A little-endian value written at an offset (size in bytes, default 8), or `bytes` written from it.' },
);

// ---- memory images (issue 5)
const Image = Type.Object(
  {
    file: Type.String({ minLength: 1, description: 'The image file, relative to this config file.' }),
    format: Type.Union([Type.Literal('raw'), Type.Literal('elf-core')], {
      description: "raw: a binary image of the region; elf-core: an ELF core such as QEMU's dump-guest-memory writes (PT_LOAD segments placed by physical address).",
    }),
    offset: Type.Optional(
      NumWith("raw: the file offset of the region's first byte (default 0). elf-core: the guest-physical address of the region's first byte (default 0)."),
    ),
  },
  { additionalProperties: false, description: 'Initial contents read from a file, lazily; writes stay in memory and never reach the file.' },
);

const Ram = Type.Object(
  {
    kind: Type.Literal('ram'),
    size: Num,
    contents: Type.Optional(Type.Array(ContentsWord, { description: 'Initial contents (written over an image).' })),
    image: Type.Optional(Image),
    description: Description,
  },
  { additionalProperties: false },
);
const Mmio = Type.Object(
  { kind: Type.Literal('mmio'), size: Num, description: Description },
  { additionalProperties: false, description: 'A named MMIO sink: accesses are recorded, reads return 0.' },
);

export const AsEntry = Type.Object(
  {
    at: Num,
    region: Type.Optional(Name('a memory region or IOMMU placed here')),
    alias: Type.Optional(Name('the region an alias points into')),
    offset: Type.Optional(NumWith('For an alias: where in the target it starts (default 0).')),
    size: Type.Optional(NumWith('For an alias: its size (default: the rest of the target).')),
    priority: Type.Optional(Type.Integer({ description: 'Higher wins where entries overlap (default 0).' })),
  },
  { additionalProperties: false, description: 'A region (or an alias into one) placed at an address.' },
);

const Container = Type.Object(
  { kind: Type.Literal('container'), size: Num, subregions: Type.Array(AsEntry), description: Description },
  { additionalProperties: false },
);

export const Region = Type.Unsafe<unknown>({
  oneOf: [Ram, Mmio, Container],
  discriminator: { propertyName: 'kind' },
  title: 'memory region',
});

const TzMpc = Type.Object(
  {
    model: Type.Literal('tz-mpc'),
    downstream: Name('the memory region the MPC guards'),
    'block-size': Type.Optional(NumWith('Block size in bytes (QEMU: the CPU page size; 1KiB on M-profile, the default).')),
    ctrl: Type.Optional(
      Type.Object(
        {
          'sec-resp': Type.Optional(Type.Union([Type.Literal('bus-error'), Type.Literal('raz-wi')])),
          autoinc: Type.Optional(Type.Boolean()),
          lockdown: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false, description: 'Initial CTRL fields.' },
      ),
    ),
    'int-en': Type.Optional(Type.Boolean({ description: 'INT_EN (default true).' })),
    lut: Type.Optional(Type.Array(Num, { description: 'BLK_LUT words; bit b of word w set = block 32w+b is non-secure.' })),
    registers: Type.Optional(
      Type.Object({ as: Name('an address space'), at: Num }, { additionalProperties: false, description: 'Where the register block is mapped.' }),
    ),
    description: Description,
  },
  { additionalProperties: false, title: 'TrustZone Memory Protection Controller (hw/misc/tz-mpc.c)' },
);

const TableMapping = Type.Object(
  {
    iova: Num,
    size: Num,
    target: Name('a memory region or address space'),
    addr: Type.Optional(NumWith('Address in the target that iova maps to (default 0).')),
    perm: Perm,
  },
  { additionalProperties: false },
);

const TableIndex = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    match: Type.Optional(AttrsMatcher),
    default: Type.Optional(Type.Boolean({ description: 'Chosen when no index matches (at most one).' })),
    mappings: Type.Optional(Type.Array(TableMapping)),
  },
  { additionalProperties: false },
);

const Table = Type.Object(
  {
    model: Type.Literal('table'),
    size: Num,
    'page-size': Type.Optional(NumWith('Minimum page size (default 4KiB).')),
    indexes: Type.Array(TableIndex, { minItems: 1 }),
    refuse: Type.Optional(
      Type.Object(
        { map: Type.Optional(Type.String()), unmap: Type.Optional(Type.String()), 'deviotlb-unmap': Type.Optional(Type.String()) },
        { additionalProperties: false, description: 'Notifier flags the model refuses, with the message it refuses them with.' },
      ),
    ),
    description: Description,
  },
  { additionalProperties: false, title: 'A declarative IOMMU: named indexes and their mappings' },
);

export const IOMMU_SCHEMAS: Record<string, TSchema> = { 'tz-mpc': TzMpc, table: Table };

export const Iommu = Type.Unsafe<unknown>({
  oneOf: Object.values(IOMMU_SCHEMAS),
  discriminator: { propertyName: 'model' },
  title: 'IOMMU',
});

export const DeviceKind = Type.Union([Type.Literal('initiator'), Type.Literal('pci'), Type.Literal('vfio-pci'), Type.Literal('vhost')]);

const Device = Type.Object(
  {
    kind: Type.Optional(DeviceKind),
    as: Type.Optional(Name('the address space it accesses')),
    iommu: Type.Optional(Name('the IOMMU its DMA goes through')),
    bdf: Type.Optional(Type.String({ pattern: '^([0-9a-fA-F]{1,2}):([0-1]?[0-9a-fA-F])\\.([0-7])$', description: 'PCI bus:device.function; gives the requester ID.' })),
    attrs: Type.Optional(Attrs),
    'device-iotlb': Type.Optional(Type.Boolean({ description: 'vhost: use a device IOTLB (DEVIOTLB_UNMAP).' })),
    description: Description,
  },
  { additionalProperties: false },
);

export const NotifierFlag = Type.Union([Type.Literal('map'), Type.Literal('unmap'), Type.Literal('deviotlb-unmap')]);

const Notifier = Type.Object(
  {
    region: Name('the IOMMU it registers on'),
    index: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })], { description: 'IOMMU index number or name.' }),
    flags: Type.Array(NotifierFlag, { uniqueItems: true }),
    range: Type.Optional(Type.Array(Num, { minItems: 2, maxItems: 2, description: 'Inclusive [start, end] (default the whole 64-bit space).' })),
    kind: Type.Optional(Type.Union([Type.Literal('tcg'), Type.Literal('explicit')])),
    replay: Type.Optional(Type.Boolean({ description: 'Replay after registering, as vfio does.' })),
    'requester-id': Type.Optional(Num),
    description: Description,
  },
  { additionalProperties: false },
);

const Size = Type.Union([Type.Literal(1), Type.Literal(2), Type.Literal(4), Type.Literal(8)], { title: 'access size' });
const Op = Type.Union([Type.Literal('read'), Type.Literal('write')]);
const Reg = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })], { description: 'Register name or offset.' });

const Steps = {
  'write-reg': Type.Object({ iommu: Type.String(), reg: Reg, value: Num, size: Type.Optional(Size), attrs: Type.Optional(Attrs) }, { additionalProperties: false }),
  'read-reg': Type.Object({ iommu: Type.String(), reg: Reg, size: Type.Optional(Size), attrs: Type.Optional(Attrs) }, { additionalProperties: false }),
  access: Type.Object(
    { from: Type.String(), addr: Num, op: Op, size: Type.Optional(Size), value: Type.Optional(Num), attrs: Type.Optional(Attrs) },
    { additionalProperties: false },
  ),
  'write-mem': Type.Object({ as: Type.String(), addr: Num, value: Num, size: Type.Optional(Size) }, { additionalProperties: false }),
  'read-mem': Type.Object({ as: Type.String(), addr: Num, size: Type.Optional(Size) }, { additionalProperties: false }),
  map: Type.Object(
    { iommu: Type.String(), index: Type.Union([Type.Integer({ minimum: 0 }), Type.String()]), iova: Num, size: Num, target: Type.String(), addr: Type.Optional(Num), perm: Perm },
    { additionalProperties: false },
  ),
  unmap: Type.Object({ iommu: Type.String(), index: Type.Union([Type.Integer({ minimum: 0 }), Type.String()]), iova: Num, size: Num }, { additionalProperties: false }),
  expect: Type.Object(
    {
      from: Type.Optional(Type.String()),
      addr: Type.Optional(Num),
      op: Type.Optional(Op),
      size: Type.Optional(Size),
      attrs: Type.Optional(Attrs),
      reaches: Type.Optional(Type.Object({ region: Type.String(), offset: Type.Optional(Num) }, { additionalProperties: false })),
      faults: Type.Optional(Type.Boolean()),
      value: Type.Optional(Num),
      iommu: Type.Optional(Type.String()),
      reg: Type.Optional(Reg),
    },
    { additionalProperties: false, description: 'Either from+addr (where an access lands, whether it faults, what it reads) or iommu+reg+value.' },
  ),
};
export const STEP_KINDS = Object.keys(Steps);

const Step = Type.Object(
  Object.fromEntries(Object.entries(Steps).map(([k, v]) => [k, Type.Optional(v)])),
  { additionalProperties: false, minProperties: 1, maxProperties: 1, description: 'One step: write-reg, read-reg, access, write-mem, read-mem, map, unmap or expect.' },
);

export const ConfigSchema = Type.Object(
  {
    'iommu-lens': Type.Literal(1, { description: 'Format version.' }),
    name: Type.Optional(Type.String()),
    description: Description,
    'qemu-semantics': Type.Optional(
      Type.Union([Type.Literal('current'), Type.Literal('5.2-9.x')], {
        description: 'Which QEMU notification rules to follow: current (crop to the notifier range) or 5.2-9.x (MAP/UNMAP outside the range asserts).',
      }),
    ),
    memory: Type.Optional(Type.Record(Type.String(), Region, { description: 'Memory regions by name.' })),
    iommus: Type.Optional(Type.Record(Type.String(), Iommu, { description: 'IOMMUs by name.' })),
    'address-spaces': Type.Optional(
      Type.Record(Type.String(), Type.Array(AsEntry), { description: 'Address spaces by name; `system` is system memory (what vfio requires).' }),
    ),
    devices: Type.Optional(Type.Record(Type.String(), Device, { description: 'Initiators and back ends by name.' })),
    notifiers: Type.Optional(Type.Record(Type.String(), Notifier, { description: 'Explicit notifier registrations by name.' })),
    scenario: Type.Optional(Type.Array(Step, { description: 'Steps run in order by `iommu-lens run` and Run Scenario.' })),
  },
  {
    additionalProperties: false,
    title: 'IOMMU Lens device config',
  },
);

/** The schema as the JSON file the extension ships. */
export function schemaJson(): string {
  return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...ConfigSchema }, null, 2) + '\n';
}

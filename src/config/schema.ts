/**
 * The device-config format as a JSON Schema, written once here with TypeBox. The same object
 * validates configs (with Ajv, see validate.ts) and is shipped as schema/iommu-lens.schema.json
 * for the editor's YAML and JSON support (`iommu-lens schema` prints it).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { virtioIommuCommandFields, virtioIommuSchema } from './models/virtio-iommu.schema';

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
    size: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: NUMBER_PATTERN })], { description: 'With value: 1, 2, 4 or 8 (default 8). With fill: how many bytes, any size (4KiB, 1MiB...).' }),
    ),
    fill: Type.Optional(Num),
    bytes: Type.Optional(
      Type.Union([Type.Array(Num), Type.String({ pattern: '^[\\s_]*([0-9a-fA-F]{2}[\\s_]*)*$' })], {
        title: 'bytes',
        description: 'Bytes written from `at` on: a list of numbers 0..255, or a string of hex pairs such as "de ad be ef".',
      }),
    ),
  },
  { additionalProperties: false, description: 'A little-endian value written at an offset (size in bytes, default 8), `bytes` written from it, or `size` bytes each `fill` (a byte).' },
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
    size: Type.Optional(
      NumWith('A slice: raw: this many bytes of the file from offset on; elf-core: segment parts outside the region are not reported. Lets several regions share one file.'),
    ),
  },
  { additionalProperties: false, description: 'Initial contents read from a file, lazily; writes stay in memory and never reach the file.' },
);

const Ram = Type.Object(
  {
    kind: Type.Literal('ram'),
    size: Num,
    rom: Type.Optional(
      Type.Boolean({
        description:
          "A ROM (QEMU's memory_region_init_rom): reads as RAM, while a write through an address space (a device's DMA, a table walker's A/D update) fails with MEMTX_DECODE_ERROR. `contents` and `image` still fill it, as QEMU's ROM loader does. Default false.",
      }),
    ),
    romd: Type.Optional(
      Type.Boolean({
        description:
          "A ROM device in ROMD mode (QEMU's memory_region_init_rom_device, `romd` in info mtree: a flash such as virt's pflash): reads as RAM, while a write goes to the device's MMIO ops, which are not modelled: it is accepted (MEMTX_OK) and changes nothing, and a step that writes there says so. Not with `rom`. Default false.",
      }),
    ),
    contents: Type.Optional(Type.Array(ContentsWord, { description: 'Initial contents (written over an image).' })),
    image: Type.Optional(Image),
    description: Description,
  },
  { additionalProperties: false },
);
const Mmio = Type.Object(
  { kind: Type.Literal('mmio'), size: Num, 'reads-as': Type.Optional(NumWith('What reads return (default 0); an unassigned PCI window reads as 0xffffffff.')), description: Description },
  { additionalProperties: false, description: 'A named MMIO sink: accesses are recorded, reads return `reads-as` (0).' },
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

const SmmuGranule = Type.Union([Type.Literal('4KiB'), Type.Literal('16KiB'), Type.Literal('64KiB'), Type.Literal(4096), Type.Literal(16384), Type.Literal(65536)], {
  description: 'Translation granule: 4KiB, 16KiB or 64KiB.',
});
const SmmuTsz = (what: string) => Type.Integer({ minimum: 16, maximum: 39, description: `${what}: the input size is 64 - ${what} bits.` });
const SmmuAf = Type.Optional(Type.Boolean({ description: 'The access flag (default true; false makes the architecture fault with F_ACCESS).' }));
const SmmuS1Mapping = Type.Object(
  {
    iova: Num,
    size: Num,
    pa: NumWith('Output address (an IPA when the stream also has stage 2).'),
    perm: Type.Union([Type.Literal('rw'), Type.Literal('ro')], { description: 'rw, or ro (AP[2]=1).' }),
    af: SmmuAf,
  },
  { additionalProperties: false },
);
const SmmuS2Mapping = Type.Object(
  { ipa: Num, size: Num, pa: Num, perm: Perm, af: SmmuAf },
  { additionalProperties: false, description: 'An IPA range and where stage 2 maps it (perm is S2AP).' },
);
const SmmuStage1 = Type.Object(
  {
    granule: SmmuGranule,
    t0sz: SmmuTsz('T0SZ'),
    asid: Num,
    map: Type.Array(SmmuS1Mapping),
    ttb1: Type.Optional(
      Type.Object(
        { t1sz: SmmuTsz('T1SZ'), granule: Type.Optional(SmmuGranule), map: Type.Array(SmmuS1Mapping, { description: 'Full 64-bit IOVAs (top bits set).' }) },
        { additionalProperties: false, description: 'A TTB1 table; without it EPD1 is set.' },
      ),
    ),
    'record-faults': Type.Optional(Type.Boolean({ description: 'CD.R (default true): record translation, access, permission and address-size faults.' })),
    affd: Type.Optional(Type.Boolean({ description: 'CD.AFFD: no access-flag faults.' })),
    ips: Type.Optional(Type.Integer({ description: 'CD.IPS in bits (32, 36, 40, 42, 44 or 48; default 48).' })),
    blocks: Type.Optional(Type.Boolean({ description: 'Use block descriptors where alignment allows (default true).' })),
  },
  { additionalProperties: false, description: 'A context descriptor and its stage-1 tables.' },
);
const SmmuStage2 = Type.Object(
  {
    granule: SmmuGranule,
    t0sz: SmmuTsz('S2T0SZ'),
    sl0: Type.Optional(Type.Integer({ minimum: 0, maximum: 2, description: 'S2SL0 (default: the deepest start level with at most 16 concatenated tables).' })),
    vmid: Num,
    map: Type.Array(SmmuS2Mapping),
    'record-faults': Type.Optional(Type.Boolean({ description: 'STE.S2R (default true).' })),
    affd: Type.Optional(Type.Boolean({ description: 'STE.S2AFFD.' })),
    ps: Type.Optional(Type.Integer({ description: 'STE.S2PS in bits (default 48).' })),
    blocks: Type.Optional(Type.Boolean({ description: 'Use block descriptors where alignment allows (default true).' })),
  },
  { additionalProperties: false, description: 'Stage-2 fields of the STE and the stage-2 tables. With stage1 too, the stream is nested: the builder maps its CD and stage-1 tables 1:1.' },
);
const SmmuStream = Type.Object(
  {
    config: Type.Optional(Type.Union([Type.Literal('translate'), Type.Literal('bypass'), Type.Literal('abort')], { description: 'STE.Config (default translate with the stages given, bypass without).' })),
    stage1: Type.Optional(SmmuStage1),
    stage2: Type.Optional(SmmuStage2),
    description: Description,
  },
  { additionalProperties: false },
);
const SmmuRegister = (what: string) => Type.Optional(NumWith(what));
const Smmuv3 = Type.Object(
  {
    model: Type.Literal('smmuv3'),
    'walk-memory': Name('the address space the SMMU reads its stream table, CDs, page tables and queues from (and writes events to)'),
    downstream: Type.Optional(Name('the address space translated accesses go to (default: walk-memory)')),
    profile: Type.Optional(
      Type.Union([Type.Literal('architecture'), Type.Literal('qemu-7.2')], {
        description: 'architecture (default), or qemu-7.2: reproduce Debian QEMU 7.2 (no AF check, no GBPA, blocks at any level, no stage 2, 2^48-byte regions...).',
      }),
    ),
    'iotlb-size': Type.Optional(Type.Integer({ minimum: 0, description: "IOTLB entries before QEMU's flush-all (default 256); 0 turns the IOTLB off." })),
    registers: Type.Optional(
      Type.Object(
        {
          as: Type.Optional(Name('an address space to map the 0x20000-byte register block in')),
          at: Type.Optional(NumWith('Where the register block goes in that address space.')),
          cr0: SmmuRegister('CR0: SMMUEN (bit 0), EVENTQEN (2), CMDQEN (3). Written last.'),
          cr1: SmmuRegister('CR1'),
          cr2: SmmuRegister('CR2'),
          gbpa: SmmuRegister('GBPA: ABORT (bit 20). Written with UPDATE set, as the protocol requires.'),
          'irq-ctrl': SmmuRegister('IRQ_CTRL: GERROR_IRQEN (0), EVENTQ_IRQEN (2).'),
          'strtab-base': SmmuRegister('STRTAB_BASE: the stream table address.'),
          'strtab-base-cfg': SmmuRegister('STRTAB_BASE_CFG: LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16].'),
          'cmdq-base': SmmuRegister('CMDQ_BASE: address | LOG2SIZE.'),
          'cmdq-prod': SmmuRegister('CMDQ_PROD'),
          'cmdq-cons': SmmuRegister('CMDQ_CONS'),
          'eventq-base': SmmuRegister('EVENTQ_BASE: address | LOG2SIZE.'),
          'eventq-prod': SmmuRegister('EVENTQ_PROD'),
          'eventq-cons': SmmuRegister('EVENTQ_CONS'),
        },
        { additionalProperties: false, description: 'Initial register values (after `build`, overriding it), and where the register block is mapped.' },
      ),
    ),
    build: Type.Optional(
      Type.Object(
        {
          at: Type.Union(
            [
              Type.String({ pattern: '^[^+\\s]+(\\s*\\+\\s*\\S+)?$', description: 'region+offset, e.g. ddr+0x100000.' }),
              Type.Object({ region: Name('a RAM region'), offset: Type.Optional(Num) }, { additionalProperties: false }),
            ],
            { description: 'Where in which RAM region the tables go (the region must be visible in walk-memory).' },
          ),
          size: Type.Optional(NumWith('Bytes the build may use (default: to the end of the region).')),
          'two-level': Type.Optional(
            Type.Union([Type.Boolean(), Type.Object({ split: Type.Integer({ minimum: 1, maximum: 16 }) }, { additionalProperties: false })], {
              description: 'A 2-level stream table (SPLIT 8 unless given).',
            }),
          ),
          queues: Type.Optional(
            Type.Union(
              [
                Type.Literal(false),
                Type.Object(
                  { 'cmdq-log2': Type.Optional(Type.Integer({ minimum: 0, maximum: 19 })), 'eventq-log2': Type.Optional(Type.Integer({ minimum: 0, maximum: 19 })) },
                  { additionalProperties: false },
                ),
              ],
              { description: 'Command and event queues (2^8 entries each by default); false for none.' },
            ),
          ),
          streams: Type.Record(Type.String({ pattern: NUMBER_PATTERN }), SmmuStream, { description: 'Streams by stream ID (the PCI requester ID).' }),
        },
        { additionalProperties: false, description: 'Write a stream table, STEs, CDs and page tables into RAM and program the SMMU to use them.' },
      ),
    ),
    description: Description,
  },
  { additionalProperties: false, title: 'Arm SMMUv3 (hw/arm/smmuv3.c)' },
);

const VtdMapping = Type.Object(
  { iova: Num, size: Num, pa: Num, perm: Perm, description: Description },
  { additionalProperties: false, description: 'IOVA -> PA, the size a multiple of 4 KiB; the largest pages alignment allows (2 MiB, 1 GiB).' },
);
const VtdDevice = Type.Object(
  {
    domain: Type.Optional(NumWith('The domain ID (context entry DID), default 1.')),
    translation: Type.Optional(
      Type.Union([Type.Literal('translate'), Type.Literal('device-iotlb'), Type.Literal('pass-through'), Type.Literal('first-stage')], {
        description: 'Context entry T: 0 translate (default), 1 with device IOTLB, 2 pass-through. Scalable mode: the RID_PASID entry PGTT, second-stage (translate), first-stage (4- or 5-level first-stage tables, needs flts) or pass-through.',
      }),
    ),
    'aw-bits': Type.Optional(Type.Union([Type.Literal(39), Type.Literal(48), Type.Literal(57)], { description: "Context entry AW: 39 (3 levels), 48 (4) or 57 (5); default: the IOMMU's aw-bits." })),
    fpd: Type.Optional(Type.Boolean({ description: 'Fault processing disable.' })),
    'large-pages': Type.Optional(Type.Boolean({ description: 'Use 2 MiB and 1 GiB pages where alignment allows (default true).' })),
    'share-with': Type.Optional(Type.String({ description: 'Use the page tables of an earlier device of the same domain (its bus:device.function).' })),
    map: Type.Optional(Type.Array(VtdMapping)),
    pasids: Type.Optional(
      Type.Record(
        Type.String({ pattern: NUMBER_PATTERN }),
        Type.Object(
          {
            domain: NumWith('The PASID entry DID.'),
            translation: Type.Optional(
              Type.Union([Type.Literal('translate'), Type.Literal('pass-through'), Type.Literal('first-stage')], { description: 'PGTT: second-stage (translate, default), first-stage (needs flts) or pass-through.' }),
            ),
            'aw-bits': Type.Optional(Type.Union([Type.Literal(39), Type.Literal(48), Type.Literal(57)], { description: 'PASID entry AW (default: the device\'s).' })),
            fpd: Type.Optional(Type.Boolean({ description: 'Fault processing disable.' })),
            'large-pages': Type.Optional(Type.Boolean({ description: 'Use 2 MiB and 1 GiB pages where alignment allows (default true).' })),
            map: Type.Optional(Type.Array(VtdMapping)),
            description: Description,
          },
          { additionalProperties: false },
        ),
        { description: 'Scalable mode: PASID table entries besides RID_PASID (0), by PASID: the address spaces of accesses whose attrs name that pasid.' },
      ),
    ),
    description: Description,
  },
  { additionalProperties: false },
);
const VtdRegister = (what: string) => Type.Optional(NumWith(what));
const IntelIommu = Type.Object(
  {
    model: Type.Literal('intel-iommu'),
    'walk-memory': Name('the address space the IOMMU reads its root, context and page tables and invalidation queue from'),
    downstream: Type.Optional(Name('the address space translated accesses go to (default: walk-memory)')),
    profile: Type.Optional(
      Type.Union([Type.Literal('architecture'), Type.Literal('qemu-7.2')], {
        description: "architecture (default: current QEMU, plus the spec's 5-level tables), or qemu-7.2: Debian QEMU 7.2 (aw-bits 39 by default, replay unmaps first, 8-bit page-selective mask...).",
      }),
    ),
    'aw-bits': Type.Optional(Type.Union([Type.Literal(39), Type.Literal(48), Type.Literal(57)], { description: 'Address width (CAP.MGAW, SAGAW): 48 by default, 39 in qemu-7.2; 57 only in the architecture profile.' })),
    'caching-mode': Type.Optional(Type.Boolean({ description: 'CAP.CM: the guest invalidates on map too; needed for MAP notifiers (vfio). Default false.' })),
    'device-iotlb': Type.Optional(Type.Boolean({ description: 'ECAP.DT: device IOTLBs (DEVIOTLB_UNMAP notifiers). Default false.' })),
    pt: Type.Optional(Type.Boolean({ description: 'ECAP.PT: pass-through context entries. Default true.' })),
    'snoop-control': Type.Optional(Type.Boolean({ description: 'ECAP.SC; QEMU then refuses every vfio and vhost notifier. Default false.' })),
    intremap: Type.Optional(Type.Boolean({ description: 'ECAP.IR (status bits only; interrupts are not remapped). Default true.' })),
    'scalable-mode': Type.Optional(
      Type.Boolean({ description: "x-scalable-mode: ECAP.SMTS/SRS/SLTS; `build` then writes scalable root and context entries, each device's RID_PASID entry (second-stage or pass-through) and the entries of its `pasids`. An access whose attrs name a pasid goes through that PASID's address space." }),
    ),
    flts: Type.Optional(
      Type.Boolean({ description: 'x-flts (current QEMU): first-stage translation in scalable mode: ECAP.FLTS (not SLTS), CAP.FS1GP; aw-bits 48 (57 in the architecture profile, 5-level). QEMU 7.2 has no such property. Default false.' }),
    ),
    'pasid-mode': Type.Optional(Type.Boolean({ description: 'x-pasid-mode: ECAP.PASID; QEMU needs scalable-mode for it and refuses it with device-iotlb. Default false.' })),
    'dma-drain': Type.Optional(Type.Boolean({ description: 'dma-drain: CAP.DRD/DWD; QEMU needs it for scalable-mode. Default true.' })),
    'iotlb-size': Type.Optional(Type.Integer({ minimum: 0, description: "IOTLB entries before QEMU's flush-all (default 1024); 0 turns the IOTLB off." })),
    registers: Type.Optional(
      Type.Object(
        {
          as: Type.Optional(Name('an address space to map the 0x230-byte register block in')),
          at: Type.Optional(NumWith('Where the register block goes (q35: 0xfed90000).')),
          rtaddr: VtdRegister('RTADDR: the root table address.'),
          gcmd: VtdRegister('GCMD: TE (31), SRTP (30), QIE (26), IRE (25), SIRTP (24); a command, written in order.'),
          iqa: VtdRegister('IQA: queue address | QS.'),
          iqh: VtdRegister('IQH: the queue head, restored (QEMU migrates it as iq_head) before GCMD.QIE enables the queue; what an attach to a live QEMU writes.'),
          iqt: VtdRegister('IQT'),
          fectl: VtdRegister('FECTL: IM (31).'),
          fedata: VtdRegister('FEDATA'),
          feaddr: VtdRegister('FEADDR'),
          feuaddr: VtdRegister('FEUADDR'),
          iectl: VtdRegister('IECTL: IM (31).'),
          iedata: VtdRegister('IEDATA'),
          ieaddr: VtdRegister('IEADDR'),
          ieuaddr: VtdRegister('IEUADDR'),
          irta: VtdRegister('IRTA'),
        },
        { additionalProperties: false, description: 'Register writes after `build`, in order, and where the register block is mapped.' },
      ),
    ),
    build: Type.Optional(
      Type.Object(
        {
          at: Type.Union(
            [
              Type.String({ pattern: '^[^+\\s]+(\\s*\\+\\s*\\S+)?$', description: 'region+offset, e.g. ram+0x100000.' }),
              Type.Object({ region: Name('a RAM region'), offset: Type.Optional(Num) }, { additionalProperties: false }),
            ],
            { description: 'Where in which RAM region the tables go (the region must be visible in walk-memory).' },
          ),
          size: Type.Optional(NumWith('Bytes the build may use (default: to the end of the region).')),
          queue: Type.Optional(
            Type.Union([Type.Literal(false), Type.Object({ qs: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 })), dw: Type.Optional(Type.Boolean({ description: 'IQA.DW: 256-bit descriptors (honoured in scalable mode), as the PASID-based invalidations need.' })) }, { additionalProperties: false })], {
              description: 'An invalidation queue of 2^(8+qs) 128-bit descriptors (2^(7+qs) of 256 bits with dw), enabled with GCMD.QIE (default qs 0); false for register-based invalidation only.',
            }),
          ),
          enable: Type.Optional(Type.Boolean({ description: 'Set GCMD.TE (default true).' })),
          devices: Type.Record(Type.String({ minLength: 1 }), VtdDevice, { description: 'Context entries and page tables by bus:device.function.' }),
        },
        { additionalProperties: false, description: 'Write root, context and second-level tables into RAM and program the IOMMU to use them.' },
      ),
    ),
    description: Description,
  },
  { additionalProperties: false, title: 'Intel VT-d (hw/i386/intel_iommu.c)' },
);

const PARTS = { Num, NumWith, Name, Description };

export const IOMMU_SCHEMAS: Record<string, TSchema> = { 'tz-mpc': TzMpc, table: Table, smmuv3: Smmuv3, 'intel-iommu': IntelIommu, 'virtio-iommu': virtioIommuSchema(PARTS) };

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
const RegOffset = Type.Integer({ minimum: 0, maximum: 7, description: 'Byte offset inside the register (a byte write to BLK_LUT+1 is offset 1, size 1).' });
const Length = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: NUMBER_PATTERN })], {
  title: 'length',
  description: 'Length in bytes, any length: a longer access is split as QEMU\'s DMA helpers split it (per page, flat range and device access size).',
});
const MemTx = Type.Union(
  [Type.Literal('MEMTX_OK'), Type.Literal('MEMTX_ERROR'), Type.Literal('MEMTX_DECODE_ERROR'), Type.Literal('MEMTX_ACCESS_ERROR')],
  { description: 'The MemTxResult of the access (ORed over its pieces).' },
);
const FieldValue = Type.Union([Num, Type.Boolean(), Type.String()]);
const ExpectedEvent = Type.Object(
  {
    iommu: Type.Optional(Type.String()),
    type: Type.Optional(Type.String({ description: "The model's name for the record: F_TRANSLATION, C_BAD_CD..." })),
    code: Type.Optional(Num),
    recorded: Type.Optional(Type.Boolean({ description: 'Written where the guest reads it (false: suppressed or lost).' })),
    fields: Type.Optional(Type.Record(Type.String(), FieldValue, { description: 'Fields of the record by name: sid, inputAddr, addr2, rnw, s2, class.' })),
  },
  { additionalProperties: false, description: 'An event or fault record the IOMMU made; every key given must match.' },
);
const ExpectedNotification = Type.Object(
  {
    notifier: Type.Optional(Type.String()),
    owner: Type.Optional(Type.String()),
    region: Type.Optional(Type.String()),
    index: Type.Optional(Type.Integer({ minimum: 0 })),
    type: Type.Optional(Type.Union([Type.Literal('MAP'), Type.Literal('UNMAP'), Type.Literal('DEVIOTLB_UNMAP')])),
    iova: Type.Optional(Num),
    mask: Type.Optional(Num),
    perm: Type.Optional(Type.Union([Type.Literal('NONE'), Type.Literal('RO'), Type.Literal('WO'), Type.Literal('RW')])),
    translated: Type.Optional(Num),
    target: Type.Optional(Type.String({ description: 'Target address space name.' })),
    outcome: Type.Optional(Type.String({ description: 'delivered (default), filtered, out-of-range, ...' })),
  },
  { additionalProperties: false, description: 'A notification; every key given must match.' },
);

const Steps = {
  'write-reg': Type.Object(
    { iommu: Type.String(), reg: Reg, offset: Type.Optional(RegOffset), value: Num, size: Type.Optional(Size), attrs: Type.Optional(Attrs) },
    { additionalProperties: false },
  ),
  'read-reg': Type.Object({ iommu: Type.String(), reg: Reg, offset: Type.Optional(RegOffset), size: Type.Optional(Size), attrs: Type.Optional(Attrs) }, { additionalProperties: false }),
  access: Type.Object(
    {
      from: Type.String(),
      addr: Num,
      op: Op,
      size: Type.Optional(Length),
      value: Type.Optional(Num),
      fill: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'For a write: every byte has this value.' })),
      attrs: Type.Optional(Attrs),
    },
    { additionalProperties: false },
  ),
  'write-mem': Type.Object({ as: Type.String(), addr: Num, value: Num, size: Type.Optional(Size) }, { additionalProperties: false }),
  'read-mem': Type.Object({ as: Type.String(), addr: Num, size: Type.Optional(Size) }, { additionalProperties: false }),
  map: Type.Object(
    { iommu: Type.String(), index: Type.Union([Type.Integer({ minimum: 0 }), Type.String()]), iova: Num, size: Num, target: Type.String(), addr: Type.Optional(Num), perm: Perm },
    { additionalProperties: false },
  ),
  unmap: Type.Object({ iommu: Type.String(), index: Type.Union([Type.Integer({ minimum: 0 }), Type.String()]), iova: Num, size: Num }, { additionalProperties: false }),
  command: Type.Object(
    {
      iommu: Type.String(),
      cmd: Type.String({ minLength: 1, description: 'The command: SMMUv3 TLBI_NH_VA, TLBI_NH_ASID, CFGI_STE, CMD_SYNC...; intel-iommu IOTLB_PAGE, IOTLB_DOMAIN, IOTLB_GLOBAL, CC_GLOBAL, CC_DEVICE, DEV_IOTLB, WAIT, PIOTLB_PASID, PIOTLB_PAGE, PASID_CACHE, DEV_PIOTLB; virtio-iommu attach, detach, map, unmap, probe, config-bypass.' }),
      sid: Type.Optional(Num),
      asid: Type.Optional(Num),
      vmid: Type.Optional(Num),
      addr: Type.Optional(Num),
      leaf: Type.Optional(Type.Boolean()),
      tg: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, description: 'Range invalidation granule: 1 4K, 2 16K, 3 64K.' })),
      num: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
      scale: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
      ttl: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })),
      range: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
      cs: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('irq'), Type.Literal('sev')])),
      did: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffff, description: 'VT-d domain ID.' })),
      am: Type.Optional(Type.Integer({ minimum: 0, maximum: 63, description: 'VT-d page-selective address mask: 2^am pages.' })),
      ih: Type.Optional(Type.Boolean({ description: 'VT-d invalidation hint.' })),
      fm: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, description: 'VT-d function mask of a device-selective context-cache invalidation.' })),
      s: Type.Optional(Type.Boolean({ description: 'VT-d device-IOTLB size bit.' })),
      pasid: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xfffff, description: 'VT-d PASID of a PASID-based invalidation (PIOTLB_PASID, PIOTLB_PAGE, PASID_CACHE, DEV_PIOTLB).' })),
      g: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, description: 'VT-d PASID_CACHE granularity: 0 domain, 1 PASID within domain, 3 global.' })),
      global: Type.Optional(Type.Boolean({ description: 'VT-d DEV_PIOTLB: every PASID of the device (G).' })),
      'status-addr': Type.Optional(Num),
      'status-data': Type.Optional(Num),
      if: Type.Optional(Type.Boolean({ description: 'VT-d wait descriptor: raise the completion interrupt.' })),
      ...virtioIommuCommandFields(PARTS),
      'expect-status': Type.Optional(
        Type.String({ minLength: 1, description: "The status the command must end with, in the model's words (virtio-iommu: S_OK, S_INVAL, S_RANGE, S_NOENT...); a different one fails the step, this one does not." }),
      ),
    },
    { additionalProperties: false, description: "A command as the IOMMU's driver issues it: SMMUv3's command queue, VT-d's invalidation queue, virtio-iommu's requests." },
  ),
  expect: Type.Object(
    {
      from: Type.Optional(Type.String()),
      addr: Type.Optional(Num),
      op: Type.Optional(Op),
      size: Type.Optional(Length),
      attrs: Type.Optional(Attrs),
      reaches: Type.Optional(Type.Object({ region: Type.String(), offset: Type.Optional(Num) }, { additionalProperties: false })),
      faults: Type.Optional(
        Type.Union([Type.Boolean(), Type.Literal('permission'), Type.Literal('unassigned'), Type.Literal('hop-limit')], { description: 'Whether it faults, or the reason it must fault for.' }),
      ),
      result: Type.Optional(MemTx),
      value: Type.Optional(Num),
      mask: Type.Optional(Num),
      events: Type.Optional(Type.Array(ExpectedEvent, { description: 'The event records the access made, in order; [] for none.' })),
      iommu: Type.Optional(Type.String()),
      reg: Type.Optional(Reg),
      offset: Type.Optional(RegOffset),
      as: Type.Optional(Type.String({ description: 'A guest-memory expectation: the bytes at as:addr (RAM), read without side effects.' })),
      notifications: Type.Optional(Type.Array(ExpectedNotification, { description: 'What the last step that was not an expectation notified.' })),
      match: Type.Optional(Type.Union([Type.Literal('exactly'), Type.Literal('subset')], { description: 'exactly (default): these and no others, in order; subset: these in order among others.' })),
    },
    {
      additionalProperties: false,
      description:
        'One of: from+addr (where an access lands, its result, value and event records), iommu+reg (a register, peeked without read side effects), as+addr (guest memory), notifications.',
    },
  ),
};
export const STEP_KINDS = Object.keys(Steps);

const Step = Type.Object(
  Object.fromEntries(Object.entries(Steps).map(([k, v]) => [k, Type.Optional(v)])),
  { additionalProperties: false, minProperties: 1, maxProperties: 1, description: 'One step: write-reg, read-reg, access, write-mem, read-mem, map, unmap, command or expect.' },
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
    'dma-split': Type.Optional(
      Type.Union([Type.Literal('page'), Type.Literal('qemu-7.2')], {
        description:
          "How an access longer than one piece cuts a stretch that faults: page (one piece to the 4 KiB boundary) or qemu-7.2 (QEMU's 4-byte pieces through io_mem_unassigned, each translated again: one failed 8-byte DMA records two events).",
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

/**
 * Every diagnostic code the config layer can produce, each shown by a fixture in
 * test/fixtures/config with its exact position and message (YAML, and JSON twins for positions
 * in JSON); a fixture with several problems that are all reported; and loads that must return
 * diagnostics, never throw, whatever the input.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic } from '../../src/config/diagnostics';
import { loadConfig } from '../../src/config/load';

/** The repository root: found from here (out/test/unit or a copy elsewhere), else the cwd. */
function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'test', 'fixtures', 'config'))) return d;
  }
  return process.cwd();
}

const ROOT = repoRoot();
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'config');

/** `line:col severity code message`, one-based as formatDiagnostic prints. */
function show(d: Diagnostic): string {
  return `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.severity} ${d.code} ${d.message}`;
}

const loaded = new Map<string, ReturnType<typeof loadConfig>>();
function load(file: string): ReturnType<typeof loadConfig> {
  if (!loaded.has(file)) loaded.set(file, loadConfig(file, fs.readFileSync(path.join(FIXTURES, file), 'utf8')));
  return loaded.get(file)!;
}

/** The text a diagnostic's range covers. */
function covered(text: string, d: Diagnostic): string {
  const lines = text.split('\n');
  const offset = (p: { line: number; character: number }) =>
    lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  return text.slice(offset(d.range.start), offset(d.range.end));
}

const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  'address-range-container.iommu.yaml': [
    '5:60 error address-range ram0 at 0x3000 with size 0x2000 runs past the end of bus (size 0x4000)',
  ],
  'address-range-contents.iommu.yaml': [
    '4:52 error address-range initial contents: ram0: access of 8 byte(s) at offset 0xffc is outside its 0x1000 bytes',
  ],
  'address-range.iommu.yaml': [
    '7:13 error address-range ram0 at 0xfffffffffffff000 with size 0x2000 runs past the end of the 64-bit address space',
  ],
  'alias-offset.iommu.yaml': [
    '7:39 error alias-range alias offset 0x2000 is past the end of ram0 (size 0x2000)',
  ],
  'alias-range.iommu.yaml': [
    '7:53 error alias-range alias of 0x2000 bytes at offset 0x1000 runs past the end of ram0 (size 0x2000) by 0x1000',
  ],
  'attrs-unspecified.iommu.yaml': [
    '6:45 warning attrs-unspecified unspecified attributes carry nothing else; secure ignored',
  ],
  'bad-bdf.iommu.yaml': [
    '6:27 error bad-value "00:20.0" is not a PCI bus:device.function (device 0..1f, function 0..7)',
  ],
  'bad-block-size.iommu.yaml': [
    '6:56 error bad-block-size tz-mpc mpc0: block size 0xc00 is not a power of two',
  ],
  'bad-number.iommu.yaml': [
    '4:28 error bad-number "KB" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)',
  ],
  'bad-value-model.iommu.yaml': [
    '4:19 error bad-value unknown model "sysmmu" (expected one of: tz-mpc, table, smmuv3, intel-iommu, virtio-iommu)',
  ],
  'bad-value-perm.iommu.yaml': [
    '12:58 error bad-value iommus.remap0.indexes[0].mappings[0].perm: expected one of "rw", "ro", "wo", "none", got "rwx"',
  ],
  'bad-value-version.iommu.yaml': [
    '2:13 error bad-value iommu-lens: expected 1, got 2',
  ],
  'bad-value.iommu.yaml': [
    '4:17 error bad-value unknown kind "rom" (expected one of: ram, mmio, container)',
  ],
  'consumer-error.iommu.yaml': [
    '17:17 warning consumer-error gpu0/vfio: 1 replayed MAP event(s) rejected: Wrong target AS "ram0", only system memory is allowed',
  ],
  'profile-difference.iommu.yaml': [
    "21:13 warning profile-difference QEMU 7.2 creates no PASID address space (vtd_find_add_as is only called with PCI_NO_PASID, and MemTxAttrs carries no PASID): PASID 5's entry is written, but no DMA in QEMU 7.2 goes through it",
  ],
  'machine-done.iommu.yaml': [
    '11:3 warning machine-done QEMU 7.2 exits when the machine is complete: We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU protection.',
    '11:17 warning notifier-refused intel-iommu dmar0.vtd-00:03.0 refuses the vfio notifier nic0/vfio: device 00.03.0 requires caching mode: Operation not supported',
  ],
  'device-conflict.iommu.yaml': [
    '10:23 error device-conflict give "as" (an address space) or "iommu" (the IOMMU in front of its DMA), not both',
  ],
  'device-missing-as.iommu.yaml': [
    '4:3 error missing-key device dma0 needs "as" (the address space it accesses) or "iommu" (the IOMMU its DMA goes through)',
  ],
  'duplicate-default.iommu.yaml': [
    '9:29 error duplicate-default index 0 (a) is already the default; only one index can be',
  ],
  'duplicate-flags.iommu.yaml': [
    '8:48 error bad-value notifiers.n0.flags: "unmap" is listed twice (items 0 and 1)',
  ],
  'duplicate-index-name.iommu.yaml': [
    '9:15 error duplicate-name index name "all" is already used by index 0',
  ],
  'duplicate-key.iommu.json': [
    '5:5 error duplicate-key the key "ram0" appears twice in this mapping; keys must be unique',
  ],
  'duplicate-key.iommu.yaml': [
    '5:3 error duplicate-key the key "ram0" appears twice in this mapping; keys must be unique',
  ],
  'duplicate-name.iommu.yaml': [
    '6:3 error duplicate-name "ram0" is already a memory region; IOMMUs and regions share one namespace',
  ],
  'empty-config.iommu.yaml': [
    '1:1 error empty-config the file is empty; a config starts with `iommu-lens: 1`',
  ],
  'access-length.iommu.yaml': ['6:56 error access-length an access of 0x2000000 bytes is longer than a scenario step takes (0x1000000)'],
  'register-offset.iommu.yaml': ['10:53 error register-offset BLK_LUT is 4 bytes wide: 2 byte(s) at offset 3 run past it'],
  'value-width.iommu.yaml': ['8:68 warning value-width a value fills at most 8 bytes; the other 8 of this 16-byte write are zero (use "fill" to set every byte)'],
  'empty-expect.iommu.yaml': [
    '6:5 warning empty-expect this expectation checks nothing: give reaches, faults, result, value or events',
  ],
  'empty-id-range.iommu.yaml': [
    '8:43 error bad-value requester-id range [0x20, 0x10] is empty: its first value is above its last',
  ],
  'empty-indexes.iommu.yaml': [
    '4:49 error bad-value iommus.remap0.indexes: expected at least 1 item, got 0',
  ],
  'entry-cycle-mutual.iommu.yaml': ['6:71 error entry-cycle a is placed inside itself: a -> b -> a (QEMU would recurse for ever drawing it)'],
  'translation-loop.iommu.yaml': [
    '4:40 error translation-loop smmu0 reads its tables from sys, which places smmu0 itself at 0x0: every table read would be translated by smmu0 again (QEMU would recurse for ever)',
  ],
  'too-deep.iommu.yaml': ['3:134 error too-deep lists and mappings nest more than 128 levels deep here; a config needs far fewer, and IOMMU Lens reads no further'],
  'view-too-large.iommu.yaml': [
    '24:3 error view-too-large the flat view of system needs more than 131072 ranges (containers that place each other many times over?); it is shown only in part',
  ],
  'entry-cycle.iommu.yaml': [
    '4:73 error entry-cycle bus cannot contain itself',
  ],
  'entry-missing-region.iommu.yaml': [
    '5:7 error missing-key an entry needs "region" (a region or IOMMU to place) or "alias" (a region to alias into)',
  ],
  'entry-shape.iommu.yaml': [
    '7:7 error entry-shape an entry places either a region or an alias, not both',
  ],
  'expect-missing-addr.iommu.yaml': [
    '6:5 error missing-key an access expectation needs "from" and "addr"',
  ],
  'expect-shape.iommu.yaml': [
    '10:13 error expect-shape an expectation is on one thing: a register (iommu, reg), guest memory (as, addr), an access (from, addr) or notifications',
  ],
  'ignored-key.iommu.yaml': [
    '7:32 warning ignored-key "size" applies only to an alias; a region entry uses the region\'s own size',
  ],
  'lut-value.iommu.yaml': [
    '6:50 error number-range 0x1_0000_0000 does not fit in 32 bits',
  ],
  'lut-words.iommu.yaml': [
    '6:49 error bad-value tz-mpc mpc0: 2 LUT words given, but the MPC has 1 (BLK_MAX + 1)',
  ],
  'mapping-overlap.iommu.yaml': [
    '13:21 error mapping-overlap mapping [0x1000, 0x1fff] overlaps [0x0, 0x1fff] in index all',
  ],
  'mapping-past-64-bits.iommu.yaml': [
    '12:50 error address-range mapping at 0xfffffffffffff000 with size 0x2000 runs past the end of the 64-bit address space',
  ],
  'mapping-range.iommu.yaml': [
    '12:21 error address-range mapping [0x3000, 0x4fff] runs outside remap0 (size 0x4000)',
  ],
  'missing-brace.iommu.json': [
    '1:15 error bad-value iommu-lens: expected 1, got a mapping',
    '1:15 error parse-error Implicit keys need to be on a single line',
    '1:15 error parse-error Nested mappings are not allowed in compact mappings',
    '2:11 error parse-error Nested mappings are not allowed in compact mappings',
    '2:46 error parse-error Unexpected scalar token',
    '4:1 error parse-error Unexpected flow-map-end token in YAML stream: "}"',
  ],
  'missing-key.iommu.json': [
    '4:5 error missing-key memory.ram0 is missing the key "size"',
  ],
  'missing-key.iommu.yaml': [
    '4:3 error missing-key memory.ram0 is missing the key "size"',
  ],
  'missing-model.iommu.yaml': [
    '4:3 error missing-key iommus.smmu0 is missing the key "model" (one of: tz-mpc, table, smmuv3, intel-iommu, virtio-iommu)',
  ],
  'multi-index-notifier.iommu.yaml': [
    '12:17 warning multi-index-notifier net0/vhost: remap0 has 2 indexes; vhost tracks only index 0 (kernel), the one unspecified attributes select, and misses changes to the others',
  ],
  'multiple-documents.iommu.yaml': [
    '3:1 error parse-error a config file holds one YAML document; this `---` starts a second',
  ],
  'name-clash-address-space.iommu.yaml': [
    '6:3 warning name-clash "ram0" names both a region and an address space; a mapping target of that name means the address space',
  ],
  'name-clash-device.iommu.yaml': [
    '6:3 warning name-clash "system" names both a device and an address space; queries from "system" use the device',
  ],
  'negative-number.iommu.yaml': [
    '7:13 error number-range -4096 is negative',
  ],
  'no-iommu.iommu.yaml': [
    '9:3 info no-iommu gpu0: no IOMMU region in system; vfio maps its RAM directly, no notifier is registered',
  ],
  'no-registers.iommu.yaml': [
    '10:25 error no-registers remap0 (table) has no register file',
  ],
  'not-a-mapping.iommu.yaml': [
    '2:1 error wrong-type a config is a mapping of keys (iommu-lens, memory, iommus, address-spaces, devices, notifiers, scenario)',
  ],
  'notifier-flags-none.iommu.yaml': [
    '8:40 error notifier-flags-none notifier n0: flags must name at least one event (QEMU asserts notifier_flags != IOMMU_NOTIFIER_NONE)',
  ],
  'notifier-index.iommu.yaml': [
    '8:30 error notifier-index notifier n0: index 2 is out of range; mpc0 has 2 index(es) (QEMU asserts 0 <= iommu_idx < num_indexes)',
  ],
  'notifier-range-length.iommu.yaml': [
    '8:56 error bad-value notifiers.n0.range: expected exactly 2 items, got 3',
  ],
  'notifier-range.iommu.json': [
    '6:74 error notifier-range notifier n0: start 0x2000 is after end 0x1000 (QEMU asserts start <= end)',
  ],
  'notifier-range.iommu.yaml': [
    '8:56 error notifier-range notifier n0: start 0x2000 is after end 0x1000 (QEMU asserts start <= end)',
  ],
  'notifier-refused.iommu.yaml': [
    '12:44 warning notifier-refused table remap0 refuses the explicit notifier n0: remap0: MAP notifiers are not supported',
  ],
  'number-range.iommu.json': [
    '8:15 error number-range 18446744073709551616 does not fit in 64 bits',
  ],
  'number-range.iommu.yaml': [
    '7:13 error number-range 0x1_0000_0000_0000_0000 does not fit in 64 bits',
  ],
  'overlap.iommu.yaml': [
    '9:13 warning overlap ram1 [0x1000, 0x1fff] overlaps ram0 [0x0, 0x1fff] at the same priority 0; QEMU lets the later entry win (give one a higher priority)',
  ],
  'page-size.iommu.yaml': [
    '7:16 error page-size remap0: min page size 0x1800 is not a power of two',
  ],
  'parse-error.iommu.json': [
    '6:1 error parse-error Flow map must end with a }',
  ],
  'parse-error.iommu.yaml': [
    '5:1 error parse-error Flow map in block collection must be sufficiently indented and end with a }',
  ],
  'parse-warning.iommu.yaml': [
    '3:7 warning parse-warning Unresolved tag: !label',
  ],
  'read-with-value.iommu.yaml': [
    '6:50 warning ignored-key a read has no value to write; use expect to check what it reads',
  ],
  'registers-on-table.iommu.yaml': [
    '9:5 error unknown-key unknown key "registers" in iommus.remap0 (expected one of: model, size, page-size, indexes, refuse, description)',
    '9:16 error no-registers remap0 (table) has no register block to map',
  ],
  'replay-too-long.iommu.yaml': [
    '10:66 warning replay-too-long default replay of remap0 stopped after 16777216 of 4503599627370496 translations at 0x1000000000; QEMU would walk the whole 0x10000000000000000-byte region',
  ],
  'requester-id.iommu.yaml': [
    '6:73 warning requester-id requester-id 0x11 differs from bdf 00:02.0 (0x10); transactions carry 0x11',
  ],
  'image-not-read.iommu.yaml': [
    '4:34 info image-not-read images are not read here: guest.elf is not loaded, and ddr reads as zeros',
  ],
  'several-problems.iommu.yaml': [
    '4:34 error unknown-key unknown key "colour" in memory.ram0 (expected one of: kind, size, rom, romd, contents, image, description)',
    '5:28 error bad-number "KB" is not a size unit (use B, KiB, MiB, GiB, TiB, PiB or EiB)',
    '6:3 error missing-key memory.ram2 is missing the key "size"',
    '8:56 error bad-block-size tz-mpc mpc0: block size 0xc00 is not a power of two',
    '16:21 error mapping-overlap mapping [0x1000, 0x1fff] overlaps [0x0, 0x1fff] in index all',
    '20:29 error unknown-reference no region named "ram9" to place here (known: ram0, remap0)',
    '21:13 error number-range 0x1_0000_0000_0000_0000 does not fit in 64 bits',
    '22:56 error alias-range alias of 0x2000 bytes at offset 0x1000 runs past the end of ram0 (size 0x2000) by 0x1000',
    '25:53 error wrong-type devices.net0.device-iotlb: expected true or false, got "maybe"',
    '26:34 error unknown-reference no IOMMU named "smmu0" for device gpu0 (known: remap0)',
    '28:60 error notifier-range notifier n0: start 0x2000 is after end 0x1000 (QEMU asserts start <= end)',
    '29:32 error notifier-index notifier n1: index 1 is out of range; remap0 has 1 index(es) (QEMU asserts 0 <= iommu_idx < num_indexes)',
  ],
  'size-alignment-table-mapping.iommu.yaml': [
    '12:32 error size-alignment mapping [0x0, 0x17ff] -> 0x0: iova, size and target must be multiples of the 0x1000-byte page',
  ],
  'size-alignment-table.iommu.yaml': [
    '6:11 error size-alignment remap0: size 0x1800 is not a multiple of the 0x1000-byte page',
  ],
  'size-alignment-tz-mpc.iommu.yaml': [
    '6:38 error size-alignment tz-mpc mpc0: MPC \'downstream\' size 4608 is not a multiple of 400 bytes (size 0x1200, block size 0x400)',
  ],
  'step-kinds.iommu.yaml': [
    '6:5 error bad-value scenario[0]: a step has exactly one kind (write-reg, read-reg, access, write-mem, read-mem, map, unmap, command or expect)',
  ],
  'too-many-blocks.iommu.yaml': [
    '6:56 error size-alignment tz-mpc mpc0: 34359738368 blocks need 1073741824 LUT words; the engine allows 1048576 (use a bigger block size)',
  ],
  'unknown-key.iommu.json': [
    '4:30 error unknown-key unknown key "sise" in memory.ram0; did you mean "size"?',
  ],
  'unknown-key.iommu.yaml': [
    '4:22 error unknown-key unknown key "sise" in memory.ram0; did you mean "size"?',
  ],
  'unknown-reference-address-space.iommu.yaml': [
    '6:15 error unknown-reference no address space named "sytem" for device cpu0 (known: system)',
  ],
  'unknown-reference-device.iommu.yaml': [
    '8:21 error unknown-reference no device or address space named "cpu1" to access from (known: cpu0, system)',
  ],
  'unknown-reference-iommu.iommu.yaml': [
    '4:29 error unknown-reference no IOMMU named "smmu0" for device nic0',
  ],
  'unknown-reference-mapping-target.iommu.yaml': [
    '12:46 error unknown-reference no region or address space named "dram" as a mapping target (known: ram0)',
  ],
  'unknown-reference-notifier-index.iommu.yaml': [
    '8:30 error unknown-reference mpc0 has no index named "secure" (indexes: S, NS)',
  ],
  'unknown-reference-region.iommu.yaml': [
    '7:26 error unknown-reference no region named "ram1" to place here (known: ram0)',
  ],
  'unknown-reference-register.iommu.yaml': [
    '8:36 error unknown-reference tz-mpc has no register "BLK_LUX" (registers: CTRL, BLK_MAX, BLK_CFG, BLK_IDX, BLK_LUT, INT_STAT, INT_CLEAR, INT_EN, INT_INFO1, INT_INFO2, INT_SET, PIDR4, PIDR5, PIDR6, PIDR7, PIDR0, PIDR1, PIDR2, PIDR3, CIDR0, CIDR1, CIDR2, CIDR3)',
  ],
  'unknown-reference-step-index.iommu.yaml': [
    '12:34 error unknown-reference remap0 has no index "kernel" (indexes: all)',
  ],
  'unknown-reference.iommu.json': [
    '8:28 error unknown-reference no region named "ram1" to place here (known: ram0)',
  ],
  'unresolved-alias.iommu.yaml': [
    '3:7 error parse-error the alias *machine-name has no anchor &machine-name before it',
  ],
  'wrong-model.iommu.yaml': [
    '8:19 error wrong-model mpc0 is a tz-mpc IOMMU; map and unmap steps work on the table model',
  ],
  'wrong-type-list.iommu.yaml': [
    '3:11 error wrong-type scenario: expected a list, got a mapping',
  ],
  'wrong-type.iommu.json': [
    '4:38 error wrong-type expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got true',
  ],
  'wrong-type.iommu.yaml': [
    '4:28 error wrong-type expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got true',
  ],
  'zero-size.iommu.yaml': [
    '4:28 error zero-size region ram0 has size 0',
  ],
};

/** For some fixtures, the text each diagnostic's range covers (the node it points at). */
const COVERS: Readonly<Record<string, readonly string[]>> = {
  'unknown-key.iommu.yaml': ['sise'],
  'unknown-key.iommu.json': ['"sise"'],
  'missing-key.iommu.yaml': ['ram0'],
  'missing-key.iommu.json': ['"ram0"'],
  'wrong-type.iommu.yaml': ['true'],
  'wrong-type.iommu.json': ['true'],
  'unknown-reference.iommu.json': ['"ram1"'],
  'number-range.iommu.json': ['18446744073709551616'],
  'number-range.iommu.yaml': ['0x1_0000_0000_0000_0000'],
  'duplicate-key.iommu.yaml': ['ram0'],
  'duplicate-key.iommu.json': ['"ram0"'],
  'unknown-reference-region.iommu.yaml': ['ram1'],
  'alias-range.iommu.yaml': ['8KiB'],
  'alias-offset.iommu.yaml': ['0x2000'],
  'overlap.iommu.yaml': ['0x1000'],
  'size-alignment-table-mapping.iommu.yaml': ['0x1800'],
  'size-alignment-table.iommu.yaml': ['0x1800'],
  'size-alignment-tz-mpc.iommu.yaml': ['ram0'],
  'notifier-index.iommu.yaml': ['2'],
  'notifier-range.iommu.yaml': ['[0x2000, 0x1000]'],
  'notifier-range.iommu.json': ['[8192, 4096]'],
  'notifier-flags-none.iommu.yaml': ['[]'],
  'notifier-refused.iommu.yaml': ['[map, unmap]'],
  'multi-index-notifier.iommu.yaml': ['vhost'],
  'replay-too-long.iommu.yaml': ['true'],
  'device-conflict.iommu.yaml': ['iommu'],
  'duplicate-flags.iommu.yaml': ['unmap'],
  'unresolved-alias.iommu.yaml': ['*machine-name'],
  'mapping-overlap.iommu.yaml': ['0x1000'],
  'registers-on-table.iommu.yaml': ['registers', '{ as: system, at: 0x1000 }'],
  // After a syntax error yaml's lexer skips a newline; positions must still land on their line.
  'missing-brace.iommu.json': ['1,', '1,\n  "name"', '1', '"', ',\n  "memory"', '}'],
};

/**
 * Codes no config can produce: each would take a bug in the loader or a model rather than a
 * mistake in a file. Any other code found in src/config must appear in some fixture above. (The
 * engine's no-indexes, index-range and notifier-registered are unreachable too, but are not
 * written in src/config: the schema and the builders stop those cases first.)
 */
const UNREACHABLE: Readonly<Record<string, string>> = {
  'internal-error': 'the loader caught an exception of its own',
  'register-write': 'a fresh MPC always accepts the secure CTRL write the builder makes',
};

/** Codes that need a caller's hook to appear, and the test that shows them. */
const SHOWN_ELSEWHERE: Readonly<Record<string, string>> = {
  'image-error': 'needs an openImage hook: test/unit/images-config.test.ts',
};

/** Engine codes the config layer passes through unchanged (so a scan of src/config misses them). */
const ENGINE_CODES = ['notifier-flags-none', 'notifier-range', 'notifier-index', 'page-size'];

/** Codes written as literals in src/config, as it reports them. */
function codesInSource(): Set<string> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of fs.readdirSync(d)) {
      const p = path.join(d, f);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    }
  };
  walk(path.join(ROOT, 'src', 'config'));
  const patterns = [
    /\b(?:error|warn)\(\s*'([a-z][a-z0-9-]*)'/g, // ctx.error('code', ...), ctx.warn('code', ...)
    /\breport\(\s*'(?:error|warning|info)',\s*'([a-z][a-z0-9-]*)'/g,
    /\bmk\(\s*'([a-z][a-z0-9-]*)'/g, // validate.ts
    /\bcode: '([a-z][a-z0-9-]*)'/g, // diagnostics and results built inline
    /\[\s*'([a-z][a-z0-9-]*)',\s*\[/g, // tz-mpc.ts: engine code -> [code, path]
    /'[a-z-]+': '([a-z][a-z0-9-]*)',/g, // table.ts: engine code -> code
    /=== '[A-Z_]+' \? '([a-z][a-z0-9-]*)'/g, // document.ts: yaml's error code -> code
  ];
  const out = new Set<string>();
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) out.add(m[1]!);
  }
  return out;
}

describe('config diagnostics: one fixture per code', () => {
  const files = fs.readdirSync(FIXTURES).filter((f) => /\.iommu\.(ya?ml|json)$/.test(f)).sort();

  it('has an expectation for every fixture and a fixture for every expectation', () => {
    assert.deepEqual(files, Object.keys(EXPECTED).sort());
  });

  for (const file of Object.keys(EXPECTED)) {
    it(file, function () {
      if (file === 'replay-too-long.iommu.yaml') this.timeout(30_000);
      const r = load(file);
      assert.deepEqual(r.diagnostics.map(show), EXPECTED[file]);
      if (COVERS[file]) {
        const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
        assert.deepEqual(r.diagnostics.map((d) => covered(text, d)), COVERS[file]);
      }
    });
  }

  it('each YAML fixture opens with one comment line saying what it shows', () => {
    for (const f of files.filter((f) => f.endsWith('.yaml'))) {
      const first = fs.readFileSync(path.join(FIXTURES, f), 'utf8').split('\n')[0]!;
      assert.match(first, /^# [A-Z].*\.$/, f);
    }
  });

  it('every code the config layer reports is shown by a fixture, or is listed as unreachable', () => {
    const shown = new Set(Object.values(EXPECTED).flatMap((ds) => ds.map((d) => d.split(' ')[2]!)));
    const missing = [...codesInSource(), ...ENGINE_CODES].filter((c) => !shown.has(c) && !(c in UNREACHABLE) && !(c in SHOWN_ELSEWHERE));
    assert.deepEqual(missing, []);
    for (const c of Object.keys(UNREACHABLE)) assert.ok(!shown.has(c), `${c} is listed as unreachable but a fixture shows it`);
  });

  it('reports several different problems in one file, not only the first', () => {
    const r = load('several-problems.iommu.yaml');
    const codes = new Set(r.diagnostics.map((d) => d.code));
    assert.ok(codes.size >= 10, [...codes].join(', '));
    assert.equal(r.errorCount, r.diagnostics.length);
  });

  it('does not report a reference to a defined but broken region a second time', () => {
    // ram1's size is refused; the entry placing it must not add "no region named ram1".
    const r = load('several-problems.iommu.yaml');
    assert.ok(!r.diagnostics.some((d) => d.message.includes('"ram1"')));
  });

  it('every diagnostic range is ordered and inside its file', function () {
    this.timeout(30_000);
    for (const file of files) {
      const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
      const lines = text.split('\n');
      for (const d of load(file).diagnostics) {
        const { start, end } = d.range;
        assert.ok(start.line < lines.length && end.line < lines.length, `${file}: ${show(d)}`);
        assert.ok(start.character <= lines[start.line]!.length && end.character <= lines[end.line]!.length, `${file}: ${show(d)}`);
        assert.ok(start.line < end.line || (start.line === end.line && start.character <= end.character), `${file}: ${show(d)}`);
      }
    }
  });
});

describe('config diagnostics: the examples and hopeless input', () => {
  for (const example of ['an505.iommu.yaml', 'dual-regime.iommu.yaml']) {
    it(`examples/${example} loads with no errors`, () => {
      const r = loadConfig(example, fs.readFileSync(path.join(ROOT, 'examples', example), 'utf8'));
      assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error').map(show), []);
      assert.equal(r.errorCount, 0);
      assert.ok(r.machine.iommus.size > 0);
    });
  }

  const ROOT_SHAPE = '1:1 error wrong-type a config is a mapping of keys (iommu-lens, memory, iommus, address-spaces, devices, notifiers, scenario)';
  const hopeless: ReadonlyArray<[string, string, readonly string[]]> = [
    ['an empty file', '', ['1:1 error empty-config the file is empty; a config starts with `iommu-lens: 1`']],
    [
      'an unclosed flow sequence',
      'garbage: [',
      [
        '1:1 error missing-key the config is missing the key "iommu-lens"',
        '1:1 error unknown-key unknown key "garbage" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '1:11 error parse-error Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    ],
    ['a JSON array', '[1, 2, 3]', [ROOT_SHAPE]],
    ['a JSON scalar', '42', [ROOT_SHAPE]],
    [
      'an alias bomb',
      'iommu-lens: 1\na: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
      [
        '2:1 error unknown-key unknown key "a" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '3:1 error unknown-key unknown key "b" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '4:1 error unknown-key unknown key "c" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '5:1 error unknown-key unknown key "d" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '6:1 error unknown-key unknown key "e" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
        '6:29 error parse-error aliases here expand to more than 100916 values; IOMMU Lens expands no more of them (this and later aliases read as nothing)',
        '7:1 error unknown-key unknown key "f" in the config (expected one of: iommu-lens, name, description, qemu-semantics, dma-split, memory, iommus, address-spaces, devices, notifiers, scenario)',
      ],
    ],
  ];
  for (const [what, text, expected] of hopeless) {
    it(`${what} gives diagnostics, not an exception`, () => {
      const r = loadConfig('x.iommu.yaml', text);
      assert.deepEqual(r.diagnostics.map(show), expected);
      assert.equal(typeof r.machine, 'object');
    });
  }

  it('binary garbage gives diagnostics, not an exception', () => {
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256));
    for (const text of [bytes.toString('latin1'), bytes.toString('utf8'), '\u0000\u0001\ud800\udfff\ufffe{[', '\x00'.repeat(64)]) {
      for (const file of ['x.iommu.yaml', 'x.iommu.json']) {
        const r = loadConfig(file, text);
        assert.ok(r.diagnostics.length > 0);
        assert.ok(r.errorCount > 0);
      }
    }
  });

  it('a JSON array in a .json file is one wrong-type error at the array', () => {
    const r = loadConfig('x.iommu.json', '[\n  {"iommu-lens": 1}\n]\n');
    assert.deepEqual(r.diagnostics.map(show), [
      '1:1 error wrong-type a config is a mapping of keys (iommu-lens, memory, iommus, address-spaces, devices, notifiers, scenario)',
    ]);
  });
});

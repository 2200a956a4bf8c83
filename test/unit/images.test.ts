/**
 * Memory images (src/engine/images, src/node): raw binaries at a file offset and ELF cores placed by physical
 * address, read lazily through a page cache, written through a copy-on-write overlay; every
 * malformed file a problem with the file and the reason, every bad read an EngineError.
 * Fixtures are generated here at run time (small ones in memory, big ones as sparse files).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { isEngineError, type AccessSize, type EngineError } from '../../src/engine';
import { MemoryByteSource, type ByteSource } from '../../src/engine/images/byte-source';
import { parseElfCore } from '../../src/engine/images/elf-core';
import { ImageBacking, openImageBacking, type ImageSpec, type OpenedImage } from '../../src/engine/images/image-backing';
import { FileByteSource, openImageFile } from '../../src/node/images';
import { elfCoreBytes, le, pattern, writeElfCore, type CoreSpec } from '../fixtures/images/elf-core-writer';

const GiB = 1n << 30n;

/** Counts the source's reads: how the cache is seen from outside. */
class Counting implements ByteSource {
  calls = 0;
  bytes = 0;
  constructor(readonly inner: ByteSource) {}
  get size(): number | bigint {
    return this.inner.size;
  }
  get label(): string | undefined {
    return this.inner.label;
  }
  readAt(offset: number, length: number): Uint8Array | EngineError {
    this.calls++;
    this.bytes += length;
    return this.inner.readAt(offset, length);
  }
}

function leValue(b: Uint8Array, at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!);
  return v;
}

function open(bytes: Uint8Array | ByteSource, spec: Partial<ImageSpec> & { format: ImageSpec['format'] }, regionSize: bigint, cachePages?: number): OpenedImage {
  const src = bytes instanceof Uint8Array ? new MemoryByteSource(bytes, spec.file ?? 'img.bin') : bytes;
  return openImageBacking(src, { file: 'img.bin', ...spec }, regionSize, 'ram0', { cachePages });
}

function backing(o: OpenedImage): ImageBacking {
  assert.ok(o.backing, `no backing: ${o.problems.map((p) => p.message).join('; ')}`);
  return o.backing;
}

function val(v: bigint | EngineError): bigint {
  if (isEngineError(v)) assert.fail(`unexpected EngineError: ${v.message}`);
  return v;
}

function fault(v: bigint | EngineError | undefined, re: RegExp): void {
  assert.ok(isEngineError(v), `expected an EngineError, got ${typeof v === 'bigint' ? `0x${v.toString(16)}` : 'undefined'}`);
  assert.equal(v.code, 'memory-fault');
  assert.match(v.message, re);
}

function errors(o: { problems: ReadonlyArray<{ severity: string; message: string }> }): string[] {
  return o.problems.filter((p) => p.severity === 'error').map((p) => p.message);
}

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-images-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('images: raw', () => {
  const data = pattern(3 * 4096 + 100, 7);

  it('reads little-endian 1, 2, 4 and 8 bytes at offsets', () => {
    const b = backing(open(data, { format: 'raw' }, 0x10000n));
    for (const at of [0, 1, 0x7, 0x100, 0x1ff8, 0x3000]) {
      for (const size of [1, 2, 4, 8] as const) assert.equal(val(b.read(BigInt(at), size)), leValue(data, at, size), `${size} at ${at}`);
    }
  });

  it('a file offset moves the region start into the file', () => {
    const b = backing(open(data, { format: 'raw', offset: 0x1003n }, 0x2000n));
    assert.equal(val(b.read(0n, 8)), leValue(data, 0x1003, 8));
    assert.equal(val(b.read(0x1ff8n, 8)), leValue(data, 0x1003 + 0x1ff8, 8));
  });

  it('page-crossing reads assemble both pages', () => {
    const b = backing(open(data, { format: 'raw', offset: 5n }, 0x4000n));
    for (const at of [0xffd, 0xfff, 0x1ffe, 0x2ff9]) {
      for (const size of [2, 4, 8] as const) assert.equal(val(b.read(BigInt(at), size)), leValue(data, at + 5, size), `${size} at ${at.toString(16)}`);
    }
  });

  it('agrees with the bytes at any offset and size (property)', () => {
    const b = backing(open(data, { format: 'raw', offset: 3n }, BigInt(data.length - 3)));
    fc.assert(
      fc.property(fc.constantFrom<AccessSize>(1, 2, 4, 8), fc.nat(data.length - 3 - 8), (size, at) => {
        assert.equal(val(b.read(BigInt(at), size)), leValue(data, at + 3, size));
      }),
      { numRuns: 500 },
    );
  });

  it('past the image end the region reads zeros; past the region end a read is an EngineError', () => {
    const o = open(data, { format: 'raw' }, 0x8000n);
    assert.deepEqual(o.problems, []);
    const b = backing(o);
    assert.equal(val(b.read(BigInt(data.length), 8)), 0n);
    assert.equal(val(b.read(BigInt(data.length - 4), 8)), leValue(data, data.length - 4, 4));
    assert.equal(val(b.read(0x7ff8n, 8)), 0n);
    fault(b.read(0x7ffcn, 8), /ram0: access of 8 byte\(s\) at offset 0x7ffc is outside its 0x8000 bytes/);
    fault(b.read(-1n, 1), /outside/);
  });

  it('an image larger than the region is a warning; an offset past the end of the file an error', () => {
    const big = open(data, { format: 'raw', file: 'dumps/ram.bin' }, 0x1000n);
    assert.deepEqual(
      big.problems.map((p) => [p.severity, p.code, p.at, p.message]),
      [['warning', 'image-size', 'image', "dumps/ram.bin holds 0x3064 bytes from offset 0x0, more than ram0's 0x1000; the last 0x2064 are not part of the region"]],
    );
    assert.ok(big.backing);
    const past = open(data, { format: 'raw', file: 'dumps/ram.bin', offset: 0x10000n }, 0x1000n);
    assert.equal(past.backing, undefined);
    assert.deepEqual(
      past.problems.map((p) => [p.severity, p.code, p.at, p.message]),
      [['error', 'image-error', 'offset', 'dumps/ram.bin: offset 0x10000 is past the end of the file (0x3064 bytes); ram0 reads as zeros']],
    );
    // At the very end: nothing of the file is in the region, which is all zeros.
    const atEnd = backing(open(data, { format: 'raw', offset: BigInt(data.length) }, 0x1000n));
    assert.equal(val(atEnd.read(0n, 8)), 0n);
  });
});

describe('images: ELF cores', () => {
  // vaddr is not paddr: placement must follow the physical address.
  const spec: CoreSpec = {
    align: 1,
    segments: [
      { paddr: 0x0n, vaddr: 0xffff_8000_0000_0000n, memsz: 0x3000n, data: [{ at: 0n, bytes: pattern(0x3000, 1) }] },
      { paddr: 0x3000n, memsz: 0x2000n, filesz: 0x800n, data: [{ at: 0n, bytes: pattern(0x800, 2) }] }, // filesz < memsz
      { paddr: 0x10000n, vaddr: 0x1234_0000n, memsz: 0x1000n, data: [{ at: 0x10n, bytes: le(0x1122334455667788n, 8) }] },
      { paddr: 0x8000_0000n, memsz: 0x1000n, data: [{ at: 0n, bytes: le(0xdead_beefn, 4) }] },
    ],
  };
  const bytes = elfCoreBytes(spec);

  it('reads the headers as QEMU writes them: PT_NOTE, then PT_LOADs sorted by physical address', () => {
    const r = parseElfCore(new MemoryByteSource(bytes), 'guest.elf');
    assert.deepEqual(r.problems, []);
    assert.ok(r.core);
    assert.equal(r.core.elfClass, 64);
    assert.equal(r.core.type, 4);
    assert.equal(r.core.machine, 62);
    assert.equal(r.core.notes.length, 1);
    assert.deepEqual(
      r.core.segments.map((s) => [s.index, s.paddr, s.memsz, s.filesz]),
      [
        [1, 0x0n, 0x3000n, 0x3000n],
        [2, 0x3000n, 0x2000n, 0x800n],
        [3, 0x10000n, 0x1000n, 0x1000n],
        [4, 0x8000_0000n, 0x1000n, 0x1000n],
      ],
    );
  });

  it('places segments by physical address, and past p_filesz reads zeros', () => {
    const o = open(bytes, { format: 'elf-core', file: 'guest.elf' }, 0x20000n);
    assert.deepEqual(o.problems, []);
    const b = backing(o);
    const p1 = pattern(0x3000, 1);
    const p2 = pattern(0x800, 2);
    assert.equal(val(b.read(0n, 8)), leValue(p1, 0, 8));
    assert.equal(val(b.read(0x2ffcn, 4)), leValue(p1, 0x2ffc, 4));
    // Across the boundary of two adjacent segments (different places in the file).
    assert.equal(val(b.read(0x2ffcn, 8)), leValue(p1, 0x2ffc, 4) | (leValue(p2, 0, 4) << 32n));
    assert.equal(val(b.read(0x37f8n, 8)), leValue(p2, 0x7f8, 8));
    assert.equal(val(b.read(0x37fcn, 8)), leValue(p2, 0x7fc, 4), 'the stored part, then zeros');
    assert.equal(val(b.read(0x4ff8n, 8)), 0n, 'p_memsz past p_filesz is zeros');
    assert.equal(val(b.read(0x10010n, 8)), 0x1122334455667788n);
  });

  it('a read where no segment is, or that runs into such a gap, is an EngineError', () => {
    const b = backing(open(bytes, { format: 'elf-core', file: 'guest.elf' }, 0x20000n));
    fault(b.read(0x5000n, 8), /no PT_LOAD segment of guest.elf holds physical address 0x5000/);
    fault(b.read(0x4ffcn, 8), /physical address 0x5000/);
    fault(b.read(0xfff8n, 8), /physical address 0xfff8/);
    fault(b.read(0x20000n, 1), /outside its 0x20000 bytes/);
    fault(b.write(0x6000n, 4, 1n), /physical address 0x6000/);
  });

  it('image.offset is the physical address of the region start', () => {
    const o = open(bytes, { format: 'elf-core', file: 'guest.elf', offset: 0x8000_0000n }, 0x1000n);
    assert.deepEqual(o.problems, []);
    assert.equal(val(backing(o).read(0n, 4)), 0xdead_beefn);
  });

  it('a segment only partly inside the region is a warning, and its inside part is used', () => {
    const o = open(bytes, { format: 'elf-core', file: 'guest.elf', offset: 0x1000n }, 0x3000n);
    assert.deepEqual(
      o.problems.map((p) => [p.code, p.at, p.message]),
      [
        ['image-size', 'image', 'guest.elf: program header 1 (physical [0x0, 0x2fff]) runs 0x1000 bytes below ram0 (physical [0x1000, 0x3fff]); only the part inside is used'],
        ['image-size', 'image', 'guest.elf: program header 2 (physical [0x3000, 0x4fff]) runs 0x1000 bytes past the end of ram0 (physical [0x1000, 0x3fff]); only the part inside is used'],
      ],
    );
    const b = backing(o);
    assert.equal(val(b.read(0n, 8)), leValue(pattern(0x3000, 1), 0x1000, 8));
    assert.equal(val(b.read(0x2000n, 8)), leValue(pattern(0x800, 2), 0, 8));
  });

  it('no segment in the region: a warning that says where the segments are', () => {
    const o = open(bytes, { format: 'elf-core', file: 'guest.elf', offset: 0x4000_0000n }, 0x1000n);
    assert.equal(o.problems.length, 1);
    assert.equal(o.problems[0]!.code, 'image-size');
    assert.equal(o.problems[0]!.at, 'offset');
    assert.match(o.problems[0]!.message, /no PT_LOAD segment lies in ram0's physical range \[0x40000000, 0x40000fff\] \(segments: \[0x0, 0x2fff\], \[0x3000, 0x4fff\], \[0x10000, 0x10fff\], \[0x80000000, 0x80000fff\]\); set image.offset/);
  });

  it("a mapping QEMU's filter left out (p_offset -1, p_filesz 0) reads zeros", () => {
    const b2 = elfCoreBytes({ segments: [{ paddr: 0x1000n, memsz: 0x1000n, filesz: 0n, offset: (1n << 64n) - 1n }, { paddr: 0x2000n, memsz: 0x1000n, data: [{ at: 0n, bytes: le(5n, 1) }] }] });
    const o = open(b2, { format: 'elf-core' }, 0x3000n);
    assert.deepEqual(o.problems, []);
    assert.equal(val(backing(o).read(0x1ff8n, 8)), 0n);
    assert.equal(val(backing(o).read(0x2000n, 1)), 5n);
  });

  it('e_phnum = PN_XNUM: the count comes from section header 0', () => {
    const b2 = elfCoreBytes({ xnum: true, segments: [{ paddr: 0n, memsz: 0x1000n, data: [{ at: 8n, bytes: le(42n, 8) }] }] });
    const o = open(b2, { format: 'elf-core' }, 0x1000n);
    assert.deepEqual(o.problems, []);
    assert.equal(val(backing(o).read(8n, 8)), 42n);
  });

  it('reads an ELF32 core too', () => {
    // ELFCLASS32: 52-byte header, 32-byte program headers; one PT_LOAD at paddr 0x100 (vaddr 0xc0000100).
    const b32 = new Uint8Array(0x200);
    const v = new DataView(b32.buffer);
    b32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    v.setUint16(16, 4, true);
    v.setUint16(18, 40, true);
    v.setUint32(28, 52, true);
    v.setUint16(40, 52, true);
    v.setUint16(42, 32, true);
    v.setUint16(44, 1, true);
    const ph = 52;
    v.setUint32(ph, 1, true);
    v.setUint32(ph + 4, 0x100, true);
    v.setUint32(ph + 8, 0xc000_0100, true);
    v.setUint32(ph + 12, 0x100, true);
    v.setUint32(ph + 16, 0x100, true);
    v.setUint32(ph + 20, 0x100, true);
    v.setUint32(0x100, 0xcafe_f00d, true);
    const o = open(b32, { format: 'elf-core' }, 0x200n);
    assert.deepEqual(o.problems, []);
    assert.equal(o.core?.elfClass, 32);
    assert.equal(val(backing(o).read(0x100n, 4)), 0xcafe_f00dn);
    fault(backing(o).read(0xf8n, 8), /physical address 0xf8/);
  });
});

describe('images: malformed ELF cores are problems, never exceptions', () => {
  const good = elfCoreBytes({ segments: [{ paddr: 0n, memsz: 0x2000n, data: [{ at: 0n, bytes: pattern(0x2000) }] }, { paddr: 0x4000n, memsz: 0x1000n }] });

  function patched(fn: (v: DataView, b: Uint8Array) => void, from = good): Uint8Array {
    const b = from.slice();
    fn(new DataView(b.buffer), b);
    return b;
  }

  /** The single error for a file that cannot be used at all. */
  function unusable(bytes: Uint8Array): string {
    const o = open(bytes, { format: 'elf-core', file: 'dumps/bad.elf' }, 0x8000n);
    assert.equal(o.backing, undefined);
    assert.equal(o.problems.length, 1, o.problems.map((p) => p.message).join('\n'));
    const p = o.problems[0]!;
    assert.equal(p.code, 'image-error');
    assert.equal(p.severity, 'error');
    assert.equal(p.at, 'file');
    assert.ok(p.message.startsWith('dumps/bad.elf: '), p.message);
    assert.ok(p.message.endsWith('; ram0 reads as zeros'), p.message);
    return p.message.slice('dumps/bad.elf: '.length, -'; ram0 reads as zeros'.length);
  }

  it('too short for a header', () => {
    assert.equal(unusable(good.subarray(0, 10)), '10 byte(s) is too short for an ELF header; is this the right file?');
    assert.equal(unusable(good.subarray(0, 40)), '40 bytes is too short for an ELF64 header (64 bytes): the file is truncated');
  });

  it('bad magic', () => {
    assert.equal(
      unusable(patched((_, b) => b.set([0x4d, 0x5a, 0x90, 0x00]))),
      'not an ELF file (it starts with 4d 5a 90 00, not 7f 45 4c 46); for a plain memory image use `format: raw`',
    );
  });

  it('bad class', () => {
    assert.equal(unusable(patched((v) => v.setUint8(4, 3))), 'ELF class 3 (e_ident[EI_CLASS]) is neither ELFCLASS32 (1) nor ELFCLASS64 (2)');
  });

  it('big-endian, and a bad data encoding', () => {
    assert.equal(unusable(patched((v) => v.setUint8(5, 2))), 'the core is big-endian (ELFDATA2MSB); only little-endian cores are read');
    assert.equal(unusable(patched((v) => v.setUint8(5, 0))), 'ELF data encoding 0 (e_ident[EI_DATA]) is neither little- (1) nor big-endian (2)');
  });

  it('wrong header and program header sizes', () => {
    assert.equal(unusable(patched((v) => v.setUint16(52, 0x40 + 8, true))), 'e_ehsize is 72; an ELF64 header is 64 bytes');
    assert.equal(unusable(patched((v) => v.setUint16(54, 32, true))), 'e_phentsize is 32; an ELF64 program header is 56 bytes');
  });

  it('no program headers, or no PT_LOAD among them', () => {
    assert.equal(unusable(patched((v) => v.setUint16(56, 0, true))), 'it has no program headers, so no guest memory (e_phnum is 0)');
    assert.equal(
      unusable(patched((v) => [1, 2].forEach((i) => v.setUint32(64 + 56 * i, 6, true)))),
      'it has no PT_LOAD segments, so no guest memory (3 program header(s))',
    );
  });

  it('a program header table past the end of the file', () => {
    assert.equal(
      unusable(good.subarray(0, 64 + 56 * 2 + 10)),
      'the program header table (3 entries of 56 bytes at 0x40) runs past the end of the file (0xba bytes): the file is truncated or not a core',
    );
    assert.equal(
      unusable(patched((v) => v.setBigUint64(32, 1n << 40n, true))),
      'the program header table (3 entries of 56 bytes at 0x10000000000) runs past the end of the file (0x4000 bytes): the file is truncated or not a core',
    );
  });

  it('PN_XNUM without the section header that counts', () => {
    const x = elfCoreBytes({ xnum: true, segments: [{ paddr: 0n, memsz: 0x1000n }] });
    assert.match(unusable(patched((v) => v.setBigUint64(40, 0n, true), x)), /^e_phnum is PN_XNUM \(0xffff\) but section header 0, which holds the real count, is missing \(e_shoff is 0\)$/);
    assert.match(unusable(patched((v) => v.setBigUint64(40, 1n << 33n, true), x)), /is not inside the file \(at 0x200000000, 64 bytes; the file has 0x2000\)$/);
  });

  it('a segment past the end of the file: the part that is there reads, the rest faults', () => {
    const cut = good.subarray(0, 0x1000 + 0x1800); // data starts at 0x1000; 0x1800 of 0x2000 bytes left
    const o = open(cut, { format: 'elf-core', file: 'dumps/bad.elf' }, 0x8000n);
    assert.deepEqual(errors(o), [
      'dumps/bad.elf: program header 1 (PT_LOAD, physical [0x0, 0x1fff]): its 0x2000 bytes at file offset 0x1000 run past the end of the file (0x2800 bytes); only the first 0x1800 are there, and reads of the missing part fault',
      'dumps/bad.elf: program header 2 (PT_LOAD, physical [0x4000, 0x4fff]): its 0x1000 bytes at file offset 0x3000 run past the end of the file (0x2800 bytes), and reads of the missing part fault',
    ]);
    const b = backing(o);
    assert.equal(val(b.read(0x17f8n, 8)), leValue(pattern(0x2000), 0x17f8, 8));
    fault(b.read(0x17fcn, 8), /physical address 0x1800/);
    fault(b.read(0x4000n, 1), /physical address 0x4000/);
  });

  it('p_filesz larger than p_memsz', () => {
    const o = open(
      patched((v) => v.setBigUint64(64 + 56 + 32, 0x3000n, true)),
      { format: 'elf-core', file: 'dumps/bad.elf' },
      0x8000n,
    );
    assert.deepEqual(errors(o), ['dumps/bad.elf: program header 1 (PT_LOAD, physical [0x0, 0x1fff]): p_filesz 0x3000 is larger than p_memsz 0x2000; only p_memsz bytes are used']);
    assert.equal(val(backing(o).read(0x1ff8n, 8)), leValue(pattern(0x2000), 0x1ff8, 8));
  });

  it('overlapping PT_LOAD segments: the later header is ignored', () => {
    const ov = elfCoreBytes({
      segments: [
        { paddr: 0x1000n, memsz: 0x2000n, data: [{ at: 0x1000n, bytes: le(1n, 8) }] },
        { paddr: 0x2000n, memsz: 0x2000n, data: [{ at: 0n, bytes: le(2n, 8) }] },
        { paddr: 0x8000n, memsz: 0x1000n },
      ],
    });
    const o = open(ov, { format: 'elf-core', file: 'dumps/bad.elf' }, 0x10000n);
    assert.deepEqual(errors(o), [
      'dumps/bad.elf: PT_LOAD segments overlap: program headers 1 (physical [0x1000, 0x2fff]) and 2 ([0x2000, 0x3fff]) both describe [0x2000, 0x2fff]; program header 2 is ignored',
    ]);
    const b = backing(o);
    assert.equal(val(b.read(0x2000n, 8)), 1n);
    fault(b.read(0x3000n, 8), /physical address 0x3000/);
  });

  it('a segment past the end of the 64-bit physical space', () => {
    const o = open(
      patched((v) => v.setBigUint64(64 + 56 * 2 + 24, (1n << 64n) - 0x800n, true)),
      { format: 'elf-core', file: 'dumps/bad.elf' },
      0x8000n,
    );
    assert.deepEqual(errors(o), ['dumps/bad.elf: program header 2 (PT_LOAD, physical [0xfffffffffffff800, 0x100000000000007ff]) runs past the end of the 64-bit physical address space; it is ignored']);
  });

  it('random corruption of the headers never throws (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(64 + 56 * 3 - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }), fc.nat(good.length), (edits, len) => {
        const b = good.slice(0, Math.max(len, 1));
        for (const [at, x] of edits) if (at < b.length) b[at] = x;
        const o = open(b, { format: 'elf-core' }, 0x8000n);
        if (o.backing) for (const a of [0n, 0x1ff8n, 0x4000n, 0x7ff8n]) o.backing.read(a, 8);
      }),
      { numRuns: 300 },
    );
  });
});

describe('images: sources that fail', () => {
  it('a source that throws, or answers short, gives EngineErrors', () => {
    const throwing: ByteSource = {
      size: 0x10000,
      label: 'flaky.bin',
      readAt: () => {
        throw new Error('EIO');
      },
    };
    const b = backing(open(throwing, { format: 'raw', file: 'flaky.bin' }, 0x10000n));
    const r = b.read(0x100n, 8);
    fault(r, /flaky.bin: reading 4096 byte\(s\) at file offset 0x0 failed: EIO/);
    fault(b.write(0x100n, 8, 1n), /EIO/);

    const short: ByteSource = { size: 0x10000, readAt: (_o, n) => new Uint8Array(n - 1) };
    fault(backing(open(short, { format: 'raw' }, 0x10000n)).read(0n, 1), /only 4095 of 4096 byte\(s\)/);
    const hdrThrows = open(throwing, { format: 'elf-core', file: 'flaky.bin' }, 0x1000n);
    assert.deepEqual(errors(hdrThrows), ['flaky.bin: reading 16 byte(s) at file offset 0x0 failed: EIO; ram0 reads as zeros']);
  });

  it('MemoryByteSource refuses reads past its end', () => {
    const s = new MemoryByteSource(new Uint8Array(16), 'm.bin');
    const r = s.readAt(10, 8);
    assert.ok(isEngineError(r));
    assert.equal(r.message, 'm.bin: read of 8 byte(s) at file offset 0xa is past the end of the file (0x10 bytes)');
    assert.ok(isEngineError(s.readAt(-1, 1)));
  });
});

describe('images: files on disk', () => {
  it('openImageFile resolves relative to the config, stats only, and opens on the first read', () => {
    fs.mkdirSync(path.join(tmp, 'cfg', 'dumps'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'cfg', 'dumps', 'ram.bin'), pattern(0x3000));
    const s = openImageFile('dumps/ram.bin', path.join(tmp, 'cfg', 'machine.iommu.yaml'));
    assert.ok(s instanceof FileByteSource);
    assert.equal(s.size, 0x3000);
    assert.equal(s.label, 'dumps/ram.bin');
    assert.equal(s.isOpen, false);
    const r = s.readAt(0xffe, 4);
    assert.ok(!isEngineError(r));
    assert.deepEqual([...r], [...pattern(0x3000).subarray(0xffe, 0x1002)]);
    assert.equal(s.isOpen, true);
    s.close();
    assert.equal(s.isOpen, false);
    assert.ok(!isEngineError(s.readAt(0, 1)), 'reopens after close');
    s.close();
    const abs = openImageFile(path.join(tmp, 'cfg', 'dumps', 'ram.bin'), '/elsewhere/x.iommu.yaml');
    assert.ok(!isEngineError(abs));
  });

  it('a missing file, a directory and a read past the end are EngineErrors', () => {
    const missing = openImageFile('nope.bin', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(isEngineError(missing));
    assert.equal(missing.message, `cannot open nope.bin: no such file (looked for ${path.join(tmp, 'nope.bin')})`);
    const dir = openImageFile(tmp, 'x.iommu.yaml');
    assert.ok(isEngineError(dir));
    assert.equal(dir.message, `cannot open ${tmp}: it is a directory`);
    fs.writeFileSync(path.join(tmp, 'small.bin'), new Uint8Array(100));
    const s = openImageFile('small.bin', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(!isEngineError(s));
    const r = s.readAt(96, 8);
    assert.ok(isEngineError(r));
    assert.match(r.message, /small.bin: read of 8 byte\(s\) at file offset 0x60 is past the end of the file \(0x64 bytes\)/);
  });

  it('a file cut short after loading faults the read, it does not throw', () => {
    const f = path.join(tmp, 'shrinks.bin');
    fs.writeFileSync(f, pattern(0x4000));
    const s = openImageFile('shrinks.bin', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(!isEngineError(s));
    const b = backing(open(s, { format: 'raw', file: 'shrinks.bin' }, 0x4000n));
    assert.equal(val(b.read(0n, 8)), leValue(pattern(0x4000), 0, 8));
    fs.truncateSync(f, 0x1000);
    fault(b.read(0x3000n, 8), /shrinks.bin: the file ended at 0x3000 while reading 4096 byte\(s\) at 0x3000; it was 0x4000 bytes when the config loaded/);
    (s as FileByteSource).close();
  });

  it('reads of a 1 GiB sparse file touch only the pages asked for, through an LRU cache', () => {
    const f = path.join(tmp, 'sparse-1g.bin');
    const fd = fs.openSync(f, 'w');
    fs.ftruncateSync(fd, Number(GiB));
    fs.writeSync(fd, le(0x0123_4567_89ab_cdefn, 8), 0, 8, 0x1234_5000);
    fs.writeSync(fd, le(0xfeed_facen, 4), 0, 4, Number(GiB) - 4);
    fs.closeSync(fd);
    const s = openImageFile('sparse-1g.bin', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(!isEngineError(s));
    const counting = new Counting(s);
    const b = backing(open(counting, { format: 'raw', file: 'sparse-1g.bin' }, GiB, 4));
    for (let i = 0; i < 1000; i++) val(b.read(0x1234_5000n + BigInt((i * 8) % 4096), 8));
    assert.equal(val(b.read(0x1234_5000n, 8)), 0x0123_4567_89ab_cdefn);
    assert.equal(counting.calls, 1, 'a thousand reads of one page read it once');
    assert.equal(counting.bytes, 4096);
    assert.equal(val(b.read(GiB - 4n, 4)), 0xfeed_facen);
    assert.equal(counting.calls, 2);
    // LRU with 4 pages: A B C D, touch A, then E evicts B (the least recent), not A.
    const page = (n: number) => BigInt(n) << 20n;
    counting.calls = 0;
    b.dropCache();
    for (const n of [1, 2, 3, 4]) b.read(page(n), 8);
    assert.equal(counting.calls, 4);
    b.read(page(1), 8);
    assert.equal(counting.calls, 4, 'A is cached');
    b.read(page(5), 8);
    assert.equal(counting.calls, 5);
    b.read(page(1), 8);
    assert.equal(counting.calls, 5, 'A survived');
    b.read(page(2), 8);
    assert.equal(counting.calls, 6, 'B was evicted');
    assert.equal(b.cachedPages, 4);
    assert.ok(b.stats.cacheHits > 1000);
    (s as FileByteSource).close();
  });

  it('a 4 GiB sparse ELF core opens by reading its headers only', () => {
    const f = path.join(tmp, 'guest-4g.elf');
    writeElfCore(f, {
      segments: [
        { paddr: 0n, memsz: 0xa0000n, data: [{ at: 0x1000n, bytes: le(0x1111n, 8) }] },
        { paddr: 0x10_0000n, memsz: 0x7ff0_0000n, data: [{ at: 0x7fef_fff8n, bytes: le(0x2222n, 8) }] },
        { paddr: 0x1_0000_0000n, memsz: 0x8000_0000n, data: [{ at: 0n, bytes: le(0x3333n, 8) }] },
      ],
    });
    assert.ok(fs.statSync(f).size > 3 * Number(GiB));
    const s = openImageFile('guest-4g.elf', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(!isEngineError(s));
    const counting = new Counting(s);
    const o = open(counting, { format: 'elf-core', file: 'guest-4g.elf' }, 8n * GiB);
    assert.deepEqual(o.problems, []);
    assert.ok(counting.bytes < 1024, `${counting.bytes} bytes read to open`);
    const b = backing(o);
    assert.equal(val(b.read(0x1000n, 8)), 0x1111n);
    assert.equal(val(b.read(0x7fff_fff8n, 8)), 0x2222n);
    assert.equal(val(b.read(0x1_0000_0000n, 8)), 0x3333n);
    fault(b.read(0xa0000n, 8), /physical address 0xa0000/);
    fault(b.read(0x1_8000_0000n, 8), /physical address 0x180000000/);
    (s as FileByteSource).close();
  });
});

describe('images: writes go to an overlay', () => {
  it('write then read returns what was written; the file is untouched', () => {
    const f = path.join(tmp, 'rw.bin');
    const data = pattern(0x3000, 3);
    fs.writeFileSync(f, data);
    const s = openImageFile('rw.bin', path.join(tmp, 'x.iommu.yaml'));
    assert.ok(!isEngineError(s));
    const b = backing(open(s, { format: 'raw', file: 'rw.bin' }, 0x4000n));
    assert.equal(b.write(0x1008n, 8, 0xaaaa_bbbb_cccc_ddddn), undefined);
    assert.equal(val(b.read(0x1008n, 8)), 0xaaaa_bbbb_cccc_ddddn);
    assert.equal(val(b.read(0x100cn, 4)), 0xaaaa_bbbbn);
    // The rest of the written page is still the image's.
    assert.equal(val(b.read(0x1000n, 8)), leValue(data, 0x1000, 8));
    assert.equal(val(b.read(0x1ff8n, 8)), leValue(data, 0x1ff8, 8));
    // Across a page boundary, into an unwritten page and past the image into zeros.
    assert.equal(b.write(0x1ffcn, 8, 0x1122_3344_5566_7788n), undefined);
    assert.equal(val(b.read(0x1ffcn, 8)), 0x1122_3344_5566_7788n);
    assert.equal(val(b.read(0x2004n, 4)), leValue(data, 0x2004, 4));
    assert.equal(b.write(0x3ff8n, 8, 7n), undefined);
    assert.equal(val(b.read(0x3ff8n, 8)), 7n);
    assert.equal(b.writtenPages, 3);
    fault(b.write(0x3ffcn, 8, 7n), /outside/);
    assert.deepEqual(new Uint8Array(fs.readFileSync(f)), data, 'the file is unchanged');
    assert.match(b.describe(), /^raw image rw.bin at file offset 0x0: 1 extent\(s\), \d+ page\(s\) cached, 3 page\(s\) written$/);
    b.close();
  });

  it('writes to an ELF core land by physical address, and a written page stays written after cache eviction', () => {
    const core = elfCoreBytes({ segments: [{ paddr: 0x8000_0000n, memsz: 0x4000n, data: [{ at: 0n, bytes: pattern(0x4000) }] }] });
    const counting = new Counting(new MemoryByteSource(core));
    const b = backing(open(counting, { format: 'elf-core', offset: 0x8000_0000n }, 0x4000n, 1));
    assert.equal(b.write(0x10n, 4, 0x5a5a_5a5an), undefined);
    for (const p of [1n, 2n, 3n]) b.read(p << 12n, 8);
    const before = counting.calls;
    assert.equal(val(b.read(0x10n, 4)), 0x5a5a_5a5an);
    assert.equal(val(b.read(0x14n, 4)), leValue(pattern(0x4000), 0x14, 4));
    assert.equal(counting.calls, before, 'a written page is read from the overlay');
  });
});

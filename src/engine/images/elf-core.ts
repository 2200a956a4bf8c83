/**
 * ELF core files as QEMU's `dump-guest-memory` writes them (dump/dump.c): an ELF header, a
 * PT_NOTE, then one PT_LOAD per guest memory mapping with p_paddr the guest-physical address,
 * p_vaddr a virtual one (or p_paddr again), p_filesz the bytes stored and p_memsz the mapping's
 * length (the rest reads as zeros; a range a `-f`/`begin,length` filter left out has p_filesz 0 and
 * p_offset -1). With more than 0xfffe program headers e_phnum is PN_XNUM and the count is in
 * section header 0's sh_info. Segments are placed by physical address, never by virtual.
 *
 * Only the headers are read here (a few hundred bytes); the memory stays in the file. Every
 * problem is a value that names the file and the reason; nothing here throws for a bad file.
 *
 * Pure TypeScript: no Node built-ins (see byte-source.ts).
 */
import { hex } from '../hex';
import { isEngineError } from '../errors';
import { safeReadAt, sourceSize, type ByteSource } from './byte-source';

export type ImageProblemCode = 'image-error' | 'image-size';

/** A problem with an image, and which key of the config's `image:` it is about. */
export interface ImageProblem {
  readonly severity: 'error' | 'warning' | 'info';
  readonly code: ImageProblemCode;
  /** `file`, `offset` and `size`: that key's value; `image`: the `image` key. */
  readonly at: 'file' | 'offset' | 'size' | 'image';
  readonly message: string;
}

export interface ElfLoadSegment {
  /** Its index in the program header table (as readelf counts, from 0). */
  readonly index: number;
  readonly paddr: bigint;
  readonly vaddr: bigint;
  /** Bytes of guest memory it describes; past `filesz` they read as zeros. */
  readonly memsz: bigint;
  /** Bytes the file holds for it (after clamping a segment cut short by the end of the file). */
  readonly filesz: bigint;
  readonly fileOffset: bigint;
}

export interface ElfCore {
  readonly elfClass: 32 | 64;
  readonly type: number;
  readonly machine: number;
  /** Usable PT_LOAD segments, sorted by paddr, none overlapping, none empty. */
  readonly segments: readonly ElfLoadSegment[];
  /** PT_NOTE segments: [file offset, size]. */
  readonly notes: ReadonlyArray<readonly [bigint, bigint]>;
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const PN_XNUM = 0xffff;
/** A dump of a machine with this many separate mappings is not one we were asked to read. */
const MAX_PHDRS = 1 << 22;

const LAYOUT = {
  64: { ehsize: 64, phentsize: 56, shentsize: 64 },
  32: { ehsize: 52, phentsize: 32, shentsize: 40 },
} as const;

function bytesHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function range(start: bigint, len: bigint): string {
  return `[${hex(start)}, ${hex(start + len - 1n)}]`;
}

/**
 * Reads an ELF core's headers. Without `core` the file cannot be used at all (not ELF, not a
 * layout we read, headers cut off); with it, `problems` lists segments that were clamped or
 * dropped.
 */
export function parseElfCore(src: ByteSource, file: string): { core?: ElfCore; problems: ImageProblem[] } {
  const problems: ImageProblem[] = [];
  const fatal = (message: string) => ({ problems: [...problems, { severity: 'error', code: 'image-error', at: 'file', message: message.startsWith(`${file}: `) ? message : `${file}: ${message}` } as const] });
  const error = (message: string) => problems.push({ severity: 'error', code: 'image-error', at: 'file', message: `${file}: ${message}` });
  const fileSize = sourceSize(src);

  if (fileSize < 16n) return fatal(`${fileSize} byte(s) is too short for an ELF header; is this the right file?`);
  const ident = safeReadAt(src, 0, 16, src.label ?? file);
  if (isEngineError(ident)) return fatal(ident.message);
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
    return fatal(`not an ELF file (it starts with ${bytesHex(ident.subarray(0, 4))}, not 7f 45 4c 46); for a plain memory image use \`format: raw\``);
  }
  const cls = ident[4];
  if (cls !== 1 && cls !== 2) return fatal(`ELF class ${cls} (e_ident[EI_CLASS]) is neither ELFCLASS32 (1) nor ELFCLASS64 (2)`);
  const elfClass: 32 | 64 = cls === 2 ? 64 : 32;
  if (ident[5] === 2) return fatal('the core is big-endian (ELFDATA2MSB); only little-endian cores are read');
  if (ident[5] !== 1) return fatal(`ELF data encoding ${ident[5]} (e_ident[EI_DATA]) is neither little- (1) nor big-endian (2)`);
  const L = LAYOUT[elfClass];
  if (fileSize < BigInt(L.ehsize)) return fatal(`${fileSize} bytes is too short for an ELF${elfClass} header (${L.ehsize} bytes): the file is truncated`);
  const hb = safeReadAt(src, 0, L.ehsize, src.label ?? file);
  if (isEngineError(hb)) return fatal(hb.message);
  const h = new DataView(hb.buffer, hb.byteOffset, hb.byteLength);
  const word = (v: DataView, off: number): bigint => (elfClass === 64 ? v.getBigUint64(off, true) : BigInt(v.getUint32(off, true)));
  const type = h.getUint16(16, true);
  const machine = h.getUint16(18, true);
  const at = elfClass === 64 ? { phoff: 32, shoff: 40, ehsize: 52, phentsize: 54, phnum: 56, shentsize: 58 } : { phoff: 28, shoff: 32, ehsize: 40, phentsize: 42, phnum: 44, shentsize: 46 };
  const ehsize = h.getUint16(at.ehsize, true);
  if (ehsize === (elfClass === 64 ? 8 : 4)) {
    // QEMU 7.2's dump.c writes sizeof(elf_header) of a pointer: the header itself is standard.
    problems.push({ severity: 'info', code: 'image-error', at: 'file', message: `${file}: e_ehsize is ${ehsize}, the size of a pointer, as QEMU up to 7.2 writes it (dump/dump.c); the header is read as ELF${elfClass}` });
  } else if (ehsize !== L.ehsize) return fatal(`e_ehsize is ${ehsize}; an ELF${elfClass} header is ${L.ehsize} bytes`);
  const phoff = word(h, at.phoff);
  const phentsize = h.getUint16(at.phentsize, true);
  let phnum = h.getUint16(at.phnum, true);
  if (phnum === 0) return fatal('it has no program headers, so no guest memory (e_phnum is 0)');
  if (phentsize !== L.phentsize) return fatal(`e_phentsize is ${phentsize}; an ELF${elfClass} program header is ${L.phentsize} bytes`);

  if (phnum === PN_XNUM) {
    // More headers than 16 bits count: the real number is in section header 0 (QEMU's write_elf_section).
    const shoff = word(h, at.shoff);
    const shentsize = h.getUint16(at.shentsize, true);
    if (shoff === 0n || shentsize < L.shentsize || shoff + BigInt(L.shentsize) > fileSize) {
      return fatal(`e_phnum is PN_XNUM (0xffff) but section header 0, which holds the real count, is ${shoff === 0n ? 'missing (e_shoff is 0)' : `not inside the file (at ${hex(shoff)}, ${shentsize} bytes; the file has ${hex(fileSize)})`}`);
    }
    const sb = safeReadAt(src, Number(shoff), L.shentsize, src.label ?? file);
    if (isEngineError(sb)) return fatal(sb.message);
    phnum = new DataView(sb.buffer, sb.byteOffset, sb.byteLength).getUint32(elfClass === 64 ? 44 : 28, true);
    if (phnum === 0) return fatal('e_phnum is PN_XNUM and section header 0 gives 0 program headers, so no guest memory');
  }
  if (phnum > MAX_PHDRS) return fatal(`${phnum} program headers is more than the ${MAX_PHDRS} read here`);
  const tableLen = BigInt(phnum) * BigInt(phentsize);
  if (phoff + tableLen > fileSize) {
    return fatal(
      `the program header table (${phnum} entries of ${phentsize} bytes at ${hex(phoff)}) runs past the end of the file (${hex(fileSize)} bytes): the file is truncated or not a core`,
    );
  }
  const tb = safeReadAt(src, Number(phoff), Number(tableLen), src.label ?? file);
  if (isEngineError(tb)) return fatal(tb.message);
  const t = new DataView(tb.buffer, tb.byteOffset, tb.byteLength);

  const loads: ElfLoadSegment[] = [];
  const notes: Array<[bigint, bigint]> = [];
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    const ptype = t.getUint32(b, true);
    const f =
      elfClass === 64
        ? { offset: t.getBigUint64(b + 8, true), vaddr: t.getBigUint64(b + 16, true), paddr: t.getBigUint64(b + 24, true), filesz: t.getBigUint64(b + 32, true), memsz: t.getBigUint64(b + 40, true) }
        : {
            offset: BigInt(t.getUint32(b + 4, true)),
            vaddr: BigInt(t.getUint32(b + 8, true)),
            paddr: BigInt(t.getUint32(b + 12, true)),
            filesz: BigInt(t.getUint32(b + 16, true)),
            memsz: BigInt(t.getUint32(b + 20, true)),
          };
    if (ptype === PT_NOTE) {
      notes.push([f.offset, f.filesz]);
      continue;
    }
    if (ptype !== PT_LOAD || f.memsz === 0n) continue;
    const what = `program header ${i} (PT_LOAD, physical ${range(f.paddr, f.memsz)})`;
    if (f.paddr + f.memsz > 1n << 64n) {
      error(`${what} runs past the end of the 64-bit physical address space; it is ignored`);
      continue;
    }
    let filesz = f.filesz;
    let memsz = f.memsz;
    if (filesz > memsz) {
      error(`${what}: p_filesz ${hex(filesz)} is larger than p_memsz ${hex(memsz)}; only p_memsz bytes are used`);
      filesz = memsz;
    }
    if (filesz > 0n && f.offset + filesz > fileSize) {
      const held = f.offset >= fileSize ? 0n : fileSize - f.offset;
      error(
        `${what}: its ${hex(filesz)} bytes at file offset ${hex(f.offset)} run past the end of the file (${hex(fileSize)} bytes)${held ? `; only the first ${hex(held)} are there` : ''}, and reads of the missing part fault`,
      );
      // What is missing is not zeros: it is unknown, so it reads as a fault rather than a value.
      filesz = held;
      memsz = held;
      if (memsz === 0n) continue;
    }
    if (filesz > 0n && f.offset + filesz > BigInt(Number.MAX_SAFE_INTEGER)) {
      error(`${what}: file offset ${hex(f.offset)} is beyond what can be read here; it is ignored`);
      continue;
    }
    loads.push({ index: i, paddr: f.paddr, vaddr: f.vaddr, memsz, filesz, fileOffset: filesz > 0n ? f.offset : 0n });
  }

  // QEMU never writes overlapping segments; a file that has them is not a dump of one machine.
  loads.sort((a, b) => (a.paddr < b.paddr ? -1 : a.paddr > b.paddr ? 1 : a.index - b.index));
  const segments: ElfLoadSegment[] = [];
  for (const s of loads) {
    const prev = segments[segments.length - 1];
    if (prev && s.paddr < prev.paddr + prev.memsz) {
      const end = prev.paddr + prev.memsz < s.paddr + s.memsz ? prev.paddr + prev.memsz : s.paddr + s.memsz;
      error(
        `PT_LOAD segments overlap: program headers ${prev.index} (physical ${range(prev.paddr, prev.memsz)}) and ${s.index} (${range(s.paddr, s.memsz)}) both describe ${range(s.paddr, end - s.paddr)}; program header ${s.index} is ignored`,
      );
      continue;
    }
    segments.push(s);
  }
  if (loads.length === 0 && problems.length === 0) return fatal(`it has no PT_LOAD segments, so no guest memory (${phnum} program header(s))`);
  return { core: { elfClass, type, machine, segments, notes }, problems };
}

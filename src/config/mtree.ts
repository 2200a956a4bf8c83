/**
 * The text of QEMU's `info mtree -f` (system/memory.c, mtree_print_flatview in QEMU 7.2): one
 * "FlatView #N" per distinct flat view, the address spaces that share it, its root region, and
 * one line per flat range:
 *
 *   FlatView #2
 *    AS "memory", root: system
 *    Root memory region: system
 *     0000000040000000-000000004fffffff (prio 0, ram): mach-virt.ram
 *     0000000010000000-000000003efeffff (prio 0, i/o): gpex_mmio_window @0000000010000000
 *
 * Pure text parsing (no sockets): a line it does not know is a problem with its line number, and
 * the parse goes on; a caller decides whether what was understood is enough.
 */

export interface FlatRange {
  readonly start: bigint;
  /** Inclusive, as QEMU prints it. */
  readonly end: bigint;
  readonly priority: number;
  /** `ram`, `rom`, `romd`, `i/o`, `ram device`... with QEMU's `nv-` prefix kept. */
  readonly type: string;
  readonly name: string;
  /** The offset into the region of `start` (QEMU's ` @offset`), 0 when absent. */
  readonly offsetInRegion: bigint;
  readonly line: number;
}

export interface FlatView {
  readonly index: number;
  /** Address spaces sharing this view, with their root region's name. */
  readonly addressSpaces: ReadonlyArray<{ readonly name: string; readonly root: string }>;
  /** `undefined` for `(none)`. */
  readonly rootRegion: string | undefined;
  readonly ranges: readonly FlatRange[];
  /** QEMU printed "No rendered FlatView" (a disabled bus master, for example). */
  readonly empty: boolean;
  readonly line: number;
}

export interface MtreeProblem {
  readonly line: number;
  readonly message: string;
}

export interface ParsedMtree {
  readonly views: readonly FlatView[];
  readonly problems: readonly MtreeProblem[];
}

const RANGE = /^([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) \(prio (-?\d+), ([^)]+)\): (.*?)(?: @([0-9a-fA-F]{1,16}))?(?: owner:\{.*\})?(?: KVM)?\s*$/;

interface MutableView {
  index: number;
  addressSpaces: Array<{ name: string; root: string }>;
  rootRegion: string | undefined;
  ranges: FlatRange[];
  empty: boolean;
  line: number;
}

/** Parses `info mtree -f` output. Never throws. */
export function parseMtreeFlat(text: string): ParsedMtree {
  const views: MutableView[] = [];
  const problems: MtreeProblem[] = [];
  let cur: MutableView | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    const line = raw.trim();
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^FlatView #(\d+)$/.exec(line))) {
      cur = { index: Number(m[1]), addressSpaces: [], rootRegion: undefined, ranges: [], empty: false, line: n };
      views.push(cur);
      continue;
    }
    if (!cur) {
      problems.push({ line: n, message: `expected "FlatView #N" first, found "${clip(line)}" (is this the output of info mtree -f?)` });
      continue;
    }
    if ((m = /^AS "(.*)", root: (.*)$/.exec(line))) {
      cur.addressSpaces.push({ name: m[1]!, root: m[2]! });
    } else if ((m = /^Root memory region: (.*)$/.exec(line))) {
      cur.rootRegion = m[1] === '(none)' ? undefined : m[1];
    } else if (line === 'No rendered FlatView') {
      cur.empty = true;
    } else if ((m = RANGE.exec(line))) {
      const start = BigInt('0x' + m[1]);
      const end = BigInt('0x' + m[2]);
      if (end < start) {
        problems.push({ line: n, message: `range ${m[1]}-${m[2]} ends before it starts` });
        continue;
      }
      cur.ranges.push({ start, end, priority: Number(m[3]), type: m[4]!, name: m[5]!, offsetInRegion: m[6] ? BigInt('0x' + m[6]) : 0n, line: n });
    } else if (/^(Dispatch|Physical sections|Nodes|Root node|Parent|#|\d+\s)/.test(line) || /^\s{3,}/.test(raw)) {
      // `info mtree -f -d` adds the dispatch tree: not needed here.
    } else {
      problems.push({ line: n, message: `not understood: "${clip(line)}"` });
    }
  }
  return { views, problems };
}

/** The flat view an address space (by name, e.g. `memory`) renders to. */
export function viewOf(mtree: ParsedMtree, asName: string): FlatView | undefined {
  return mtree.views.find((v) => v.addressSpaces.some((a) => a.name === asName));
}

function clip(s: string): string {
  return s.length > 80 ? s.slice(0, 80) + '...' : s;
}

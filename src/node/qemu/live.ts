/**
 * A live QEMU as a Machine. Attaching reads, over QMP, the run state, the version, `query-pci`
 * and `info mtree -f`; finds the IOMMUs (discovery.ts) and reads their registers from their MMIO;
 * and writes a config (the same format as a user's file) whose RAM regions are images read from
 * the guest. The config loader builds the Machine from it, so every command that takes a config
 * works on a live QEMU.
 *
 * Guest memory is read lazily, page by page, over the gdbstub in physical-memory mode (or with
 * the monitor's `xp` when no gdbstub is given), through the image page cache. Translation is
 * synchronous and sockets are not: a read of a page not yet fetched fails at once and is noted;
 * `query()` then fetches the noted pages and runs the query again on a fresh load, until a run
 * needs nothing new. Each run reaches at least one level further down the tables, so the number
 * of runs is bounded by the tables' depth, not their size.
 *
 * Reads only: nothing is written to the guest or its registers. QEMU stops a running guest when
 * the gdbstub is attached; `detach()` restores the gdbstub's memory mode and resumes the guest if
 * it was running before.
 */
import { loadConfig, type LoadedConfig, type LoadOptions } from '../../config/load';
import { parseMtreeFlat, viewOf, type FlatRange, type ParsedMtree } from '../../config/mtree';
// The yaml package only when a snapshot is written: the extension requires this module when it starts.
import { yamlLib } from '../../config/yaml-lib';
import { engineError, type EngineError } from '../../engine/errors';
import { pastEnd, rangeInside, type ByteSource } from '../../engine/images/byte-source';
import { DISCOVERERS, type FoundIommu } from './discovery';
import { describeEndpoint, type Endpoint } from './endpoint';
import { GdbClient } from './gdb';
import { QmpClient } from './qmp';

const PAGE = 4096;
const BPAGE = 4096n;

/** Reads guest-physical memory. */
export interface PhysReader {
  readonly label: string;
  read(addr: bigint, length: number): Promise<Uint8Array>;
}

export class GdbPhysReader implements PhysReader {
  constructor(readonly gdb: GdbClient) {}
  get label(): string {
    return `gdbstub ${this.gdb.where}`;
  }
  read(addr: bigint, length: number): Promise<Uint8Array> {
    return this.gdb.read(addr, length);
  }
}

/** The monitor's `xp /Nwx`: slower than the gdbstub, and needs nothing but QMP. */
export class MonitorPhysReader implements PhysReader {
  constructor(readonly qmp: QmpClient) {}
  get label(): string {
    return `QMP ${this.qmp.where} (xp)`;
  }
  async read(addr: bigint, length: number): Promise<Uint8Array> {
    if (length % 4 || addr % 4n) throw new Error(`xp reads whole 32-bit words: ${length} byte(s) at 0x${addr.toString(16)}`);
    const out = new Uint8Array(length);
    const dv = new DataView(out.buffer);
    const text = await this.qmp.hmp(`xp /${length / 4}wx 0x${addr.toString(16)}`);
    let i = 0;
    for (const line of text.split(/\r?\n/)) {
      const m = /^[0-9a-fA-F]+:((?:\s+0x[0-9a-fA-F]+)+)\s*$/.exec(line.trim());
      if (!m) continue;
      for (const w of m[1]!.trim().split(/\s+/)) {
        if (i >= length) break;
        dv.setUint32(i, Number.parseInt(w, 16), true);
        i += 4;
      }
    }
    if (i !== length) throw new Error(`xp at 0x${addr.toString(16)}: expected ${length / 4} words, understood ${i / 4}: ${text.slice(0, 80)}`);
    return out;
  }
}

/**
 * Guest pages read so far, shared by every load of the live config. Reads of pages not yet here
 * fail and are noted in `pending`.
 */
export class LivePageCache {
  readonly pages = new Map<bigint, Uint8Array>();
  readonly pending = new Set<bigint>();
  fetched = 0;

  constructor(readonly reader: PhysReader) {}

  source(base: bigint, size: bigint, label: string): ByteSource {
    // The source's methods are called on the source, not on this cache: keep a reference.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const cache = this;
    return {
      size,
      label,
      readAt(offset: number, length: number): Uint8Array | EngineError {
        if (!rangeInside(offset, length, size)) return pastEnd(label, offset, length, size);
        const addr = base + BigInt(offset);
        const first = addr / BPAGE;
        const last = (addr + BigInt(length) - 1n) / BPAGE;
        let missing = false;
        for (let p = first; p <= last; p++) {
          if (!cache.pages.has(p)) {
            cache.pending.add(p);
            missing = true;
          }
        }
        if (missing) return engineError('live-pending', `guest memory at 0x${addr.toString(16)} is not read from QEMU yet`);
        if (first === last) {
          const off = Number(addr - first * BPAGE);
          return cache.pages.get(first)!.subarray(off, off + length);
        }
        const out = new Uint8Array(length);
        for (let i = 0; i < length; i++) {
          const a = addr + BigInt(i);
          out[i] = cache.pages.get(a / BPAGE)![Number(a % BPAGE)]!;
        }
        return out;
      },
    };
  }

  /** Reads every pending page. */
  async fetchPending(): Promise<number> {
    const todo = [...this.pending].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.pending.clear();
    for (const p of todo) {
      if (this.pages.has(p)) continue;
      this.pages.set(p, await this.reader.read(p * BPAGE, PAGE));
      this.fetched++;
    }
    return todo.length;
  }

  clear(): void {
    this.pages.clear();
    this.pending.clear();
  }
}

export interface PciDevice {
  readonly bus: number;
  readonly slot: number;
  readonly function: number;
  readonly vendor: number;
  readonly device: number;
  readonly qdevId: string;
  readonly classDesc?: string;
  readonly bars: ReadonlyArray<{ bar: number; address: bigint; size: bigint; type: string }>;
}

export interface LiveIommu {
  readonly name: string;
  readonly found: FoundIommu;
  readonly registers: ReadonlyMap<string, bigint>;
}

export interface LiveState {
  readonly qemu: { major: number; minor: number; micro: number; package?: string };
  readonly status: string;
  readonly wasRunning: boolean;
  readonly mtreeText: string;
  readonly mtree: ParsedMtree;
  readonly pci: readonly PciDevice[];
  readonly iommus: readonly LiveIommu[];
  readonly notes: readonly string[];
}

export interface AttachOptions {
  readonly qmp: Endpoint;
  readonly gdb?: Endpoint;
  readonly timeoutMs?: number;
}

/** How many runs a query may take to read what it needs (each reaches one level further). */
const MAX_PASSES = 64;

export function bdfOf(d: { bus: number; slot: number; function: number }): string {
  return `${d.bus.toString(16).padStart(2, '0')}:${d.slot.toString(16).padStart(2, '0')}.${d.function.toString(16)}`;
}

const KNOWN_PCI: Readonly<Record<string, string>> = { '1234:11e8': 'edu', '1b36:0008': 'host-bridge', '1af4:1000': 'virtio-net', '1af4:1041': 'virtio-net' };

export class LiveQemu {
  private constructor(
    readonly qmp: QmpClient,
    readonly gdb: GdbClient | undefined,
    readonly cache: LivePageCache,
    public state: LiveState,
  ) {}

  static async attach(opts: AttachOptions): Promise<LiveQemu> {
    const t = opts.timeoutMs ?? 10000;
    const qmp = await QmpClient.connect(opts.qmp, { timeoutMs: t, connectTimeoutMs: Math.min(t, 5000) });
    let gdb: GdbClient | undefined;
    let running = false;
    try {
      // Before the gdbstub stops it: whether the guest runs.
      const status = (await qmp.execute('query-status')) as { status?: string; running?: boolean };
      running = status.running === true;
      if (opts.gdb) {
        gdb = await GdbClient.connect(opts.gdb, { timeoutMs: t, connectTimeoutMs: Math.min(t, 5000) });
        await gdb.enterPhysicalMode();
      }
      const live = new LiveQemu(qmp, gdb, new LivePageCache(gdb ? new GdbPhysReader(gdb) : new MonitorPhysReader(qmp)), undefined as unknown as LiveState);
      live.state = await live.read(status.status ?? 'unknown', status.running === true);
      return live;
    } catch (e) {
      if (gdb) {
        await gdb.close();
        await resumeIf(qmp, running).catch(() => undefined);
      }
      qmp.close();
      throw e;
    }
  }

  get where(): string {
    return `QMP ${this.qmp.where}${this.gdb ? `, gdbstub ${this.gdb.where}` : ''}`;
  }

  get connected(): boolean {
    return !this.qmp.closed && (this.gdb === undefined || !this.gdb.closed);
  }

  /** Reads the state again (memory map, devices, registers) and forgets the pages read. */
  async refresh(): Promise<void> {
    this.cache.clear();
    this.state = await this.read(this.state.status, this.state.wasRunning);
  }

  private async read(status: string, wasRunning: boolean): Promise<LiveState> {
    const v = this.qmp.greeting?.version;
    const qemu = { major: v?.qemu.major ?? 0, minor: v?.qemu.minor ?? 0, micro: v?.qemu.micro ?? 0, package: v?.package };
    const mtreeText = await this.qmp.hmp('info mtree -f');
    const mtree = parseMtreeFlat(mtreeText);
    const system = viewOf(mtree, 'memory');
    if (!system) {
      const p = mtree.problems[0];
      throw new Error(
        `QMP ${this.qmp.where}: info mtree -f has no flat view of system memory (AS "memory")` +
          (p ? `; line ${p.line}: ${p.message}` : mtree.views.length ? '' : '; the output has no FlatView at all'),
      );
    }
    const pci = parsePci(await this.qmp.execute('query-pci'));
    const notes: string[] = mtree.problems.map((p) => `info mtree -f line ${p.line}: ${p.message}`);
    const iommus: LiveIommu[] = [];
    for (const d of DISCOVERERS) {
      for (const found of d.find(mtree, system, pci)) {
        const regs = new Map<string, bigint>();
        for (const [name, off] of d.registers) {
          const b = await this.cache.reader.read(found.base + BigInt(off), 4);
          regs.set(name, BigInt(new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)));
        }
        const n = iommus.filter((i) => i.found.model === d.model).length;
        iommus.push({ name: `${d.namePrefix}${n}`, found, registers: regs });
      }
    }
    return { qemu, status, wasRunning, mtreeText, mtree, pci, iommus, notes };
  }

  /** The config describing the live machine; `image` says how RAM regions read. */
  configText(image: (r: FlatRange) => Record<string, unknown> | undefined, header: string[] = []): string {
    return renderLiveConfig(this.state, image, header);
  }

  /** The live config: its text, and the image hook that reads RAM from the guest. */
  liveConfig(): { file: string; text: string; openImage: NonNullable<LoadOptions['openImage']> } {
    const sources = new Map<string, ByteSource>();
    const text = this.configText((r) => {
      const file = `qemu-phys:0x${r.start.toString(16)}`;
      sources.set(file, this.cache.source(r.start, r.end - r.start + 1n, `guest memory ${r.name}`));
      return { file, format: 'raw' };
    }, [`Attached to QEMU ${this.versionText} (${this.where}); guest memory is read on demand.`]);
    return { file: this.fileName, text, openImage: (file) => sources.get(file) ?? engineError('image-open', `${file}: not a live memory range`) };
  }

  /** Loads the live config with RAM read from the guest (a fresh Machine every time). */
  load(opts: Omit<LoadOptions, 'openImage'> = {}): LoadedConfig {
    const c = this.liveConfig();
    return loadConfig(c.file, c.text, { ...opts, openImage: c.openImage });
  }

  get fileName(): string {
    return `qemu-${describeEndpoint(this.qmp.endpoint).replace(/[^A-Za-z0-9_.-]+/g, '_')}.iommu.yaml`;
  }

  get versionText(): string {
    const q = this.state.qemu;
    return `${q.major}.${q.minor}.${q.micro}${q.package ? ` (${q.package})` : ''}`;
  }

  /**
   * Runs `fn` on a fresh load until it needs no guest page that is not read yet; returns its last
   * answer. `fn` must not keep state between runs (each run sees a new Machine).
   */
  async query<T>(fn: (cfg: LoadedConfig) => T, opts: Omit<LoadOptions, 'openImage'> = {}): Promise<T> {
    return this.settle(() => fn(this.load(opts)));
  }

  /** Runs `run` until it reads no guest page that is not fetched yet (see query). */
  async settle<T>(run: () => T): Promise<T> {
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const result = run();
      if (this.cache.pending.size === 0) return result;
      await this.cache.fetchPending();
    }
    throw new Error(`the query still needed new guest pages after ${MAX_PASSES} runs (${this.cache.fetched} pages read); is a table chain cyclic?`);
  }

  /** Restores the gdbstub's memory mode, closes both connections, resumes a guest that was running. */
  async detach(): Promise<void> {
    if (this.gdb) await this.gdb.close();
    if (!this.qmp.closed) {
      await resumeIf(this.qmp, this.gdb !== undefined && this.state.wasRunning).catch(() => undefined);
      this.qmp.close();
    }
  }
}

/** QEMU stops the guest when a debugger attaches; put it back running if it was. */
async function resumeIf(qmp: QmpClient, wasRunning: boolean): Promise<void> {
  if (!wasRunning || qmp.closed) return;
  const s = (await qmp.execute('query-status')) as { running?: boolean };
  if (!s.running) await qmp.execute('cont');
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

export function parsePci(ret: unknown): PciDevice[] {
  const out: PciDevice[] = [];
  const walk = (devs: unknown) => {
    if (!Array.isArray(devs)) return;
    for (const d of devs as Array<Record<string, unknown>>) {
      const id = (d.id ?? {}) as Record<string, unknown>;
      const cls = (d.class_info ?? {}) as Record<string, unknown>;
      const regions = Array.isArray(d.regions) ? (d.regions as Array<Record<string, unknown>>) : [];
      out.push({
        bus: num(d.bus),
        slot: num(d.slot),
        function: num(d.function),
        vendor: num(id.vendor),
        device: num(id.device),
        qdevId: typeof d.qdev_id === 'string' ? d.qdev_id : '',
        classDesc: typeof cls.desc === 'string' ? cls.desc : undefined,
        bars: regions.map((r) => ({ bar: num(r.bar), address: BigInt.asUintN(64, BigInt(num(r.address))), size: BigInt(num(r.size)), type: typeof r.type === 'string' ? r.type : '' })),
      });
      const bridge = d.pci_bridge as { devices?: unknown } | undefined;
      if (bridge) walk(bridge.devices);
    }
  };
  if (Array.isArray(ret)) for (const bus of ret as Array<{ devices?: unknown }>) walk(bus.devices);
  return out;
}

/** A name usable as a config key and on a command line. */
function regionName(r: FlatRange, used: Set<string>): string {
  let n = r.name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'region';
  if (used.has(n)) n = `${n}@0x${r.start.toString(16)}`;
  used.add(n);
  return n;
}

export function pciDeviceName(d: PciDevice): string {
  const known = KNOWN_PCI[`${d.vendor.toString(16).padStart(4, '0')}:${d.device.toString(16).padStart(4, '0')}`];
  const base = d.qdevId.replace(/[^A-Za-z0-9_.-]+/g, '-') || known || 'pci';
  return `${base}-${bdfOf(d).replace(':', '.')}`;
}

/** The config text for a live state. Pure: the snapshot writes the same with other images. */
export function renderLiveConfig(state: LiveState, image: (r: FlatRange) => Record<string, unknown> | undefined, header: string[]): string {
  const system = viewOf(state.mtree, 'memory')!;
  const used = new Set<string>(['system']);
  const memory: Record<string, unknown> = {};
  const entries: Array<Record<string, unknown>> = [];
  const iommuBases = new Set(state.iommus.map((i) => i.found.base));
  for (const r of system.ranges) {
    if (iommuBases.has(r.start) && state.iommus.some((i) => i.found.regionName === r.name)) continue;
    const name = regionName(r, used);
    const size = r.end - r.start + 1n;
    // RAM, ROM (QEMU's `rom`: reads as memory, writes through an address space fail) and ROM
    // devices in ROMD mode (`romd`, a flash: reads as memory, writes reach the device's MMIO ops)
    // read through the image; `ram device` and `i/o` become MMIO sinks.
    // `image` may have no contents for a range (a snapshot's dump leaves ROM devices out): it is
    // then a sink, as MMIO is.
    const ram = r.type === 'ram' || r.type === 'nv-ram';
    const rom = r.type === 'rom' || r.type === 'nv-rom';
    const romd = r.type === 'romd' || r.type === 'nv-romd';
    const contents = ram || rom || romd ? image(r) : undefined;
    memory[name] = contents
      ? { kind: 'ram', size: `0x${size.toString(16)}`, ...(rom ? { rom: true } : romd ? { romd: true } : {}), image: contents, description: `QEMU ${r.name}` }
      : { kind: 'mmio', size: `0x${size.toString(16)}`, description: `QEMU ${r.name} (${r.type})${r.offsetInRegion ? ` @0x${r.offsetInRegion.toString(16)}` : ''}` };
    entries.push({ at: `0x${r.start.toString(16)}`, region: name });
  }
  const iommus: Record<string, unknown> = {};
  const notes = [...state.notes];
  for (const i of state.iommus) {
    const d = DISCOVERERS.find((x) => x.model === i.found.model)!;
    const { entry, notes: n } = d.configEntry(i.found, i.registers, state.qemu);
    iommus[i.name] = entry;
    notes.push(...n.map((s) => `${i.name}: ${s}`));
  }
  const devices: Record<string, unknown> = { cpu: { as: 'system' } };
  for (const d of state.pci) {
    const rid = (d.bus << 8) | (d.slot << 3) | d.function;
    const behind = state.iommus.find((i) => i.found.requesterIds.has(rid));
    const desc = `${d.classDesc ?? 'PCI device'} ${d.vendor.toString(16).padStart(4, '0')}:${d.device.toString(16).padStart(4, '0')}`;
    devices[pciDeviceName(d)] = behind
      ? { kind: 'pci', bdf: bdfOf(d), iommu: behind.name, description: desc }
      : { kind: 'pci', bdf: bdfOf(d), as: 'system', description: `${desc} (no IOMMU)` };
  }
  const doc: Record<string, unknown> = {
    'iommu-lens': 1,
    name: `QEMU ${state.qemu.major}.${state.qemu.minor}.${state.qemu.micro} (${state.status})`,
    memory,
    ...(Object.keys(iommus).length ? { iommus } : {}),
    'address-spaces': { system: entries },
    devices,
  };
  const comments = [...header, ...notes.map((n) => `note: ${n}`)].map((l) => `# ${l}`);
  return (comments.length ? comments.join('\n') + '\n' : '') + yamlLib().stringify(doc, { lineWidth: 0 });
}

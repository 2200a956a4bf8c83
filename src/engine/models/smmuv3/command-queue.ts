/**
 * The command queue (smmuv3_cmdq_consume): 16-byte commands read at CMDQ_BASE + 16 * CONS.index
 * whenever CR0, CMDQ_PROD or GERRORN is written and CMDQEN is set, until CONS reaches PROD. A
 * command that cannot be read (CERROR_ABT) or is illegal (CERROR_ILL: an unknown opcode, SSec
 * set on a CFGI, a stage the SMMU does not implement) stops the queue: CONS stays on it,
 * CMDQ_CONS.ERR holds the code and GERROR.CMDQ_ERR toggles; nothing runs again until software
 * acknowledges through GERRORN.
 *
 * Command fields (32-bit words): w0 opcode [7:0], SSec [10], SSV [11], SSID/NUM [16:12] and
 * SCALE [24:20] (range TLBIs), CS [13:12] (CMD_SYNC); w1 SID, or VMID [15:0] and ASID [31:16];
 * w2 Leaf [0], Range [4:0] (CFGI_STE_RANGE), TTL [9:8], TG [11:10], Address [31:12]; w3
 * Address [63:32].
 *
 * What each command does is QEMU's: CFGI_* drop cached configs and notify nobody; TLBI_NH_ALL,
 * NH_ASID, S12_VMALL and NSNH_ALL send every notifier of every stream a whole-range UNMAP
 * (smmu_inv_notifiers_all); NH_VA, NH_VAA and S2_IPA send UNMAPs of the range, split into
 * power-of-two aligned chunks when TG selects a range (smmuv3_range_inval); EL2/EL3, ATC and
 * PRI commands are accepted and do nothing; CMD_SYNC with CS=SIG_IRQ pulses the wired
 * CMD_SYNC interrupt (no MSI: IDR0.MSI is 0).
 */
import { hex, powerOfTwoChunks } from '../../hex';
import type { GuestReader } from '../../guest-reader';
import type { Iotlb } from './iotlb';
import type { Smmuv3Irqs } from './irq';
import {
  CERROR_ABT,
  CERROR_ILL,
  CERROR_NONE,
  CMDQ_CONS_ERR_MASK,
  CMDQ_CONS_ERR_SHIFT,
  GERROR_CMDQ_ERR,
  cerrorName,
  queueBase,
  queueEmpty,
  queueIncr,
  queueIndex,
  type Smmuv3Registers,
} from './registers';
import type { ProfileFlags } from './types';

export const CMD_PREFETCH_CONFIG = 0x01;
export const CMD_PREFETCH_ADDR = 0x02;
export const CMD_CFGI_STE = 0x03;
export const CMD_CFGI_STE_RANGE = 0x04;
export const CMD_CFGI_CD = 0x05;
export const CMD_CFGI_CD_ALL = 0x06;
export const CMD_TLBI_NH_ALL = 0x10;
export const CMD_TLBI_NH_ASID = 0x11;
export const CMD_TLBI_NH_VA = 0x12;
export const CMD_TLBI_NH_VAA = 0x13;
export const CMD_TLBI_EL3_ALL = 0x18;
export const CMD_TLBI_EL3_VA = 0x1a;
export const CMD_TLBI_EL2_ALL = 0x20;
export const CMD_TLBI_EL2_ASID = 0x21;
export const CMD_TLBI_EL2_VA = 0x22;
export const CMD_TLBI_EL2_VAA = 0x23;
export const CMD_TLBI_S12_VMALL = 0x28;
export const CMD_TLBI_S2_IPA = 0x2a;
export const CMD_TLBI_NSNH_ALL = 0x30;
export const CMD_ATC_INV = 0x40;
export const CMD_PRI_RESP = 0x41;
export const CMD_RESUME = 0x44;
export const CMD_STALL_TERM = 0x45;
export const CMD_SYNC = 0x46;

export const COMMAND_OPCODES: Readonly<Record<string, number>> = {
  PREFETCH_CONFIG: CMD_PREFETCH_CONFIG,
  PREFETCH_ADDR: CMD_PREFETCH_ADDR,
  CFGI_STE: CMD_CFGI_STE,
  CFGI_STE_RANGE: CMD_CFGI_STE_RANGE,
  CFGI_ALL: CMD_CFGI_STE_RANGE,
  CFGI_CD: CMD_CFGI_CD,
  CFGI_CD_ALL: CMD_CFGI_CD_ALL,
  TLBI_NH_ALL: CMD_TLBI_NH_ALL,
  TLBI_NH_ASID: CMD_TLBI_NH_ASID,
  TLBI_NH_VA: CMD_TLBI_NH_VA,
  TLBI_NH_VAA: CMD_TLBI_NH_VAA,
  TLBI_EL3_ALL: CMD_TLBI_EL3_ALL,
  TLBI_EL3_VA: CMD_TLBI_EL3_VA,
  TLBI_EL2_ALL: CMD_TLBI_EL2_ALL,
  TLBI_EL2_ASID: CMD_TLBI_EL2_ASID,
  TLBI_EL2_VA: CMD_TLBI_EL2_VA,
  TLBI_EL2_VAA: CMD_TLBI_EL2_VAA,
  TLBI_S12_VMALL: CMD_TLBI_S12_VMALL,
  TLBI_S2_IPA: CMD_TLBI_S2_IPA,
  TLBI_NSNH_ALL: CMD_TLBI_NSNH_ALL,
  ATC_INV: CMD_ATC_INV,
  PRI_RESP: CMD_PRI_RESP,
  RESUME: CMD_RESUME,
  STALL_TERM: CMD_STALL_TERM,
  SYNC: CMD_SYNC,
};

export type CommandName = keyof typeof COMMAND_OPCODES;

export function commandName(op: number): string {
  if (op === CMD_CFGI_STE_RANGE) return 'CMD_CFGI_STE_RANGE';
  for (const [k, v] of Object.entries(COMMAND_OPCODES)) if (v === op) return `CMD_${k}`;
  return `CMD_0x${op.toString(16)}`;
}

/** A command as software builds it. Unset fields are 0. */
export interface Smmuv3Command {
  /** A name (`TLBI_NH_VA`, `CMD_SYNC`...) or an opcode. */
  readonly op: string | number;
  readonly sid?: number;
  readonly ssec?: boolean;
  readonly ssv?: boolean;
  readonly ssid?: number;
  readonly asid?: number;
  readonly vmid?: number;
  /** VA or IPA; bits [11:0] are not encoded. */
  readonly addr?: bigint;
  readonly leaf?: boolean;
  /** Range invalidation: TG code (1 4K, 2 16K, 3 64K; 0 = no range), NUM and SCALE. */
  readonly tg?: number;
  readonly num?: number;
  readonly scale?: number;
  readonly ttl?: number;
  /** CFGI_STE_RANGE: invalidate 2^(range+1) STEs (31: all, i.e. CFGI_ALL). */
  readonly range?: number;
  /** CMD_SYNC completion signal. */
  readonly cs?: 'none' | 'irq' | 'sev';
}

export function opcodeOf(op: string | number): number | undefined {
  if (typeof op === 'number') return op >= 0 && op <= 0xff ? op : undefined;
  const k = op.toUpperCase().replace(/^CMD_/, '');
  return COMMAND_OPCODES[k];
}

/** The four words of a command. */
export function encodeCommand(c: Smmuv3Command): [number, number, number, number] | undefined {
  const op = opcodeOf(c.op);
  if (op === undefined) return undefined;
  const name = typeof c.op === 'string' ? c.op.toUpperCase().replace(/^CMD_/, '') : '';
  let w0 = op;
  if (c.ssec) w0 |= 1 << 10;
  if (c.ssv) w0 |= 1 << 11;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  switch (op) {
    case CMD_SYNC:
      w0 |= ({ none: 0, irq: 1, sev: 2 }[c.cs ?? 'none'] & 3) << 12;
      break;
    case CMD_CFGI_STE:
    case CMD_CFGI_CD:
    case CMD_CFGI_CD_ALL:
    case CMD_PREFETCH_CONFIG:
      w1 = (c.sid ?? 0) >>> 0;
      if (op === CMD_CFGI_CD) w0 |= ((c.ssid ?? 0) & 0xfffff) << 12;
      if (c.leaf) w2 |= 1;
      break;
    case CMD_CFGI_STE_RANGE:
      w1 = (c.sid ?? 0) >>> 0;
      w2 = (c.range ?? (name === 'CFGI_ALL' ? 31 : 0)) & 0x1f;
      break;
    default: {
      w1 = ((c.vmid ?? 0) & 0xffff) | (((c.asid ?? 0) & 0xffff) << 16);
      const addr = c.addr ?? 0n;
      w0 |= ((c.num ?? 0) & 0x1f) << 12;
      w0 |= ((c.scale ?? 0) & 0x1f) << 20;
      w2 = (c.leaf ? 1 : 0) | (((c.ttl ?? 0) & 3) << 8) | (((c.tg ?? 0) & 3) << 10) | Number(addr & 0xfffff000n);
      w3 = Number((addr >> 32n) & 0xffffffffn);
    }
  }
  return [w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0];
}

/** Decoded fields of a command (the CMD_* macros). */
export interface DecodedCommand {
  readonly op: number;
  readonly name: string;
  readonly words: readonly number[];
  readonly sid: number;
  readonly ssec: boolean;
  readonly vmid: number;
  readonly asid: number;
  readonly addr: bigint;
  readonly tg: number;
  readonly num: number;
  readonly scale: number;
  readonly ttl: number;
  readonly leaf: boolean;
  readonly range: number;
  readonly cs: number;
}

export function decodeCommand(w: readonly number[]): DecodedCommand {
  const w0 = w[0]! >>> 0;
  const w2 = w[2]! >>> 0;
  const op = w0 & 0xff;
  return {
    op,
    name: commandName(op),
    words: w,
    sid: w[1]! >>> 0,
    ssec: ((w0 >>> 10) & 1) === 1,
    vmid: w[1]! & 0xffff,
    asid: (w[1]! >>> 16) & 0xffff,
    addr: (BigInt(w[3]! >>> 0) << 32n) | BigInt(w2 - (w2 % 4096)),
    tg: (w2 >>> 10) & 3,
    num: (w0 >>> 12) & 0x1f,
    scale: (w0 >>> 20) & 0x1f,
    ttl: (w2 >>> 8) & 3,
    leaf: (w2 & 1) === 1,
    range: w2 & 0x1f,
    cs: (w0 >>> 12) & 3,
  };
}

/** What the command queue needs from the device. */
export interface CommandTarget {
  readonly iotlb: Iotlb;
  /** Drops cached configs of SIDs in [start, end]; returns how many. */
  invalidateConfigs(start: number, end: number): number;
  /** smmu_inv_notifiers_all: every notifier of every stream with notifiers, a whole-range UNMAP. */
  unmapAllNotifiers(): number;
  /** smmuv3_inv_notifiers_iova: UNMAPs of [iova, iova + bytes) (no TG: one page of each stream's granule). */
  notifyIova(asid: number, vmid: number, iova: bigint, tg: number, bytes: bigint | undefined, stage: 1 | 2): number;
}

export interface CommandLogEntry {
  /** CMDQ index the command was read from. */
  readonly index: number;
  readonly command?: DecodedCommand;
  readonly error: number;
  /** The error's name (CMDQ_CONS.ERR): CERROR_NONE, CERROR_ILL, CERROR_ABT. */
  readonly status: string;
  /** What it did, in words. */
  readonly effect: string;
}

export class CommandQueue {
  readonly log: CommandLogEntry[] = [];
  logLimit = 1024;
  /** Commands run so far. */
  executed = 0;

  constructor(
    private readonly regs: Smmuv3Registers,
    private readonly mem: GuestReader,
    private readonly flags: ProfileFlags,
    private readonly irqs: Smmuv3Irqs,
    private readonly target: CommandTarget,
    private readonly guestLog: (m: string) => void,
  ) {}

  /** smmuv3_cmdq_consume. Returns the entries it logged. */
  consume(): CommandLogEntry[] {
    const regs = this.regs;
    const q = regs.cmdq;
    const done: CommandLogEntry[] = [];
    if (!regs.cmdqEnabled) return done;
    let error = CERROR_NONE;
    while (!queueEmpty(q)) {
      if (regs.gerrorPending & GERROR_CMDQ_ERR) break;
      const index = queueIndex(q, q.cons);
      const at = BigInt(queueBase(q)) + BigInt(16 * index);
      const lo = this.mem.readBig(at, 8);
      const hi = lo === undefined ? undefined : this.mem.readBig(at + 8n, 8);
      if (lo === undefined || hi === undefined) {
        error = CERROR_ABT;
        done.push(this.push({ index, error, status: cerrorName(error), effect: `command at ${hex(at)} could not be read` }));
        break;
      }
      const words = [Number(lo & 0xffffffffn), Number(lo >> 32n), Number(hi & 0xffffffffn), Number(hi >> 32n)];
      const cmd = decodeCommand(words);
      const r = this.execute(cmd);
      error = r.error;
      done.push(this.push({ index, command: cmd, error, status: cerrorName(error), effect: r.effect }));
      if (error !== CERROR_NONE) {
        if (error === CERROR_ILL) this.guestLog(`Illegal command type: ${cmd.op}`);
        break;
      }
      this.executed++;
      // CONS moves only once the command has completed (QEMU's queue_cons_incr keeps ERR).
      q.cons = queueIncr(q, q.cons);
    }
    if (error !== CERROR_NONE) {
      q.cons = ((q.cons & ~CMDQ_CONS_ERR_MASK) | (error << CMDQ_CONS_ERR_SHIFT)) >>> 0;
      this.irqs.trigger('gerror', GERROR_CMDQ_ERR);
    }
    return done;
  }

  private execute(c: DecodedCommand): { error: number; effect: string } {
    const t = this.target;
    const stage2 = this.flags.stage2;
    const ok = (effect: string) => ({ error: CERROR_NONE, effect });
    const ill = (why: string) => ({ error: CERROR_ILL, effect: `${cerrorName(CERROR_ILL)}: ${why}` });
    switch (c.op) {
      case CMD_SYNC: {
        if (c.cs & 1) {
          this.irqs.trigger('cmd-sync');
          return ok('sync; CS=SIG_IRQ: CMD_SYNC interrupt pulsed');
        }
        return ok(`sync (CS=${['SIG_NONE', 'SIG_IRQ', 'SIG_SEV', '3'][c.cs]})`);
      }
      case CMD_PREFETCH_CONFIG:
      case CMD_PREFETCH_ADDR:
        return ok('prefetch: nothing to do');
      case CMD_CFGI_STE:
      case CMD_CFGI_CD:
      case CMD_CFGI_CD_ALL: {
        if (c.ssec) return ill('SSec set on a non-secure SMMU');
        const n = t.invalidateConfigs(c.sid, c.sid);
        return ok(`config cache of SID ${hex(c.sid)} ${n ? 'dropped' : 'was empty'}`);
      }
      case CMD_CFGI_STE_RANGE: {
        if (c.ssec) return ill('SSec set on a non-secure SMMU');
        const mask = 2 ** (c.range + 1) - 1;
        const start = c.sid - (c.sid % (mask + 1));
        const end = start + mask;
        const n = t.invalidateConfigs(start, end);
        return ok(`config caches of SIDs ${hex(start)}..${hex(Math.min(end, 0xffffffff))} dropped (${n})`);
      }
      case CMD_TLBI_NH_ASID: {
        const vmid = stage2 ? c.vmid : -1;
        const u = t.unmapAllNotifiers();
        const n = t.iotlb.invAsidVmid(c.asid, vmid);
        return ok(`IOTLB entries of ASID ${c.asid}${vmid >= 0 ? ` VMID ${vmid}` : ''} dropped (${n}); ${u} whole-range UNMAP(s)`);
      }
      case CMD_TLBI_NH_ALL:
      case CMD_TLBI_NSNH_ALL: {
        if (c.op === CMD_TLBI_NH_ALL && stage2) {
          const u = t.unmapAllNotifiers();
          const n = t.iotlb.invVmidS1(c.vmid);
          return ok(`stage-1 IOTLB entries of VMID ${c.vmid} dropped (${n}); ${u} whole-range UNMAP(s)`);
        }
        // Without stage 2, NH_ALL is NSNH_ALL.
        const u = t.unmapAllNotifiers();
        const n = t.iotlb.invAll();
        return ok(`whole IOTLB dropped (${n}); ${u} whole-range UNMAP(s)`);
      }
      case CMD_TLBI_NH_VA:
      case CMD_TLBI_NH_VAA:
        return ok(this.rangeInval(c, 1));
      case CMD_TLBI_S12_VMALL: {
        if (!stage2) return ok('unhandled by QEMU 7.2 (no stage 2): nothing done');
        const u = t.unmapAllNotifiers();
        const n = t.iotlb.invVmid(c.vmid);
        return ok(`IOTLB entries of VMID ${c.vmid} dropped (${n}); ${u} whole-range UNMAP(s)`);
      }
      case CMD_TLBI_S2_IPA:
        if (!stage2) return ok('unhandled by QEMU 7.2 (no stage 2): nothing done');
        return ok(this.rangeInval(c, 2));
      case CMD_TLBI_EL3_ALL:
      case CMD_TLBI_EL3_VA:
      case CMD_TLBI_EL2_ALL:
      case CMD_TLBI_EL2_ASID:
      case CMD_TLBI_EL2_VA:
      case CMD_TLBI_EL2_VAA:
      case CMD_ATC_INV:
      case CMD_PRI_RESP:
      case CMD_RESUME:
      case CMD_STALL_TERM:
        return ok('accepted and ignored (QEMU: unhandled command; no EL2/EL3 regime, ATS or PRI is modelled)');
      default:
        return ill(`unknown opcode ${hex(c.op)}`);
    }
  }

  /** smmuv3_range_inval: one page without TG, else NUM/SCALE pages split into power-of-two aligned chunks. */
  private rangeInval(c: DecodedCommand, stage: 1 | 2): string {
    const t = this.target;
    const vmid = this.flags.stage2 ? c.vmid : -1;
    const asid = stage === 1 && c.op === CMD_TLBI_NH_VA ? c.asid : -1;
    const parts: string[] = [];
    const inv = (iova: bigint, tg: number, bytes: bigint | undefined) => {
      // Without TG, the IOTLB drops what holds `iova` (QEMU uses a 4 KiB range mask) and the
      // notifiers hear of one page of the stream's granule.
      const mask = (bytes ?? 4096n) - 1n;
      const u = t.notifyIova(asid, vmid, iova, tg, bytes, stage);
      const n = stage === 1 ? t.iotlb.invIova(asid, vmid, iova, mask) : t.iotlb.invIpa(vmid, iova, mask);
      parts.push(`${hex(iova)}${bytes === undefined ? '' : `+${hex(bytes)}`}: ${n} IOTLB entr${n === 1 ? 'y' : 'ies'}, ${u} UNMAP(s)`);
    };
    if (!c.tg) {
      inv(c.addr, 0, undefined);
    } else {
      const granule = c.tg * 2 + 10;
      const pages = BigInt(c.num + 1) << BigInt(c.scale);
      for (const ch of powerOfTwoChunks(c.addr, pages << BigInt(granule))) inv(ch.iova, c.tg, ch.size);
    }
    const who = asid >= 0 ? `ASID ${asid}` : stage === 1 ? 'all ASIDs' : 'stage 2';
    return `${c.name} (${who}${vmid >= 0 ? `, VMID ${vmid}` : ''}): ${parts.join('; ')}`;
  }

  private push(e: CommandLogEntry): CommandLogEntry {
    this.log.push(e);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    return e;
  }
}

/**
 * Event records and the event queue (smmuv3_record_event, smmuv3_write_eventq, queue_write):
 * a 32-byte record per event, written little-endian at EVENTQ_BASE + 32 * PROD.index in guest
 * memory, then PROD advances (with its wrap bit) and the EVTQ interrupt pulses if enabled.
 *
 * Record layout (32-bit words):
 *   w0: type [7:0], SSV [11], SubstreamID [31:12]     w1: StreamID
 *   w2: STAG [15:0], Stall [31]                        w3: PnU [1], InD [2], RnW [3], S2 [7], CLASS [9:8]
 *   w4-w5: InputAddr                                   w6-w7: FetchAddr / IPA
 * F_STE_FETCH and F_CD_FETCH carry the fetch address in w6-w7 (QEMU writes F_CD_FETCH's into
 * w4-w5; the qemu-7.2 profile does the same).
 *
 * With EVENTQEN clear nothing is written (QEMU returns before building the record). A full queue
 * sets EVENTQ_PROD.OVFLG so that it differs from EVENTQ_CONS.OVACKFLG (the architecture); QEMU
 * instead drops the event and raises GERROR.EVENTQ_ABT_ERR (qemu-7.2 profile). A failed write
 * raises GERROR.EVENTQ_ABT_ERR.
 */
import { hex } from '../../hex';
import type { GuestReader } from '../../guest-reader';
import type { Smmuv3Irqs } from './irq';
import { EVENTQ_OVFLG, GERROR_EVENTQ_ABT_ERR, queueBase, queueEmpty, queueFull, queueIncr, queueIndex, type Smmuv3Registers } from './registers';
import {
  EVT_C_BAD_CD,
  EVT_C_BAD_STE,
  EVT_C_BAD_STREAMID,
  EVT_C_BAD_SUBSTREAMID,
  EVT_F_ACCESS,
  EVT_F_ADDR_SIZE,
  EVT_F_CD_FETCH,
  EVT_F_CFG_CONFLICT,
  EVT_F_PERMISSION,
  EVT_F_STE_FETCH,
  EVT_F_TRANSLATION,
  EVT_F_UUT,
  EVT_F_WALK_EABT,
  type EventDisposition,
  type EventLogEntry,
  type ProfileFlags,
  type SmmuEvent,
} from './types';

export const EVENT_RECORD_SIZE = 32;

function lo32(v: bigint | undefined): number {
  return v === undefined ? 0 : Number(v & 0xffffffffn);
}
function hi32(v: bigint | undefined): number {
  return v === undefined ? 0 : Number((v >> 32n) & 0xffffffffn);
}

/** The 8 words of an event record, as smmuv3_record_event fills them. */
export function encodeEvent(ev: SmmuEvent, flags: ProfileFlags): number[] {
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  w[0] = ev.type & 0xff;
  w[1] = ev.sid >>> 0;
  const ssid = () => {
    w[0] = (w[0]! | ((ev.ssv ? 1 : 0) << 11) | (((ev.ssid ?? 0) & 0xfffff) << 12)) >>> 0;
  };
  const addr = (v: bigint | undefined) => {
    w[4] = lo32(v);
    w[5] = hi32(v);
  };
  const addr2 = (v: bigint | undefined) => {
    w[6] = lo32(v);
    w[7] = hi32(v);
  };
  switch (ev.type) {
    case EVT_F_UUT:
      ssid();
      addr(ev.addr);
      w[3] = (ev.rnw ? 1 : 0) << 3;
      break;
    case EVT_C_BAD_STREAMID:
    case EVT_C_BAD_STE:
    case EVT_C_BAD_CD:
    case EVT_F_CFG_CONFLICT:
      ssid();
      break;
    case EVT_C_BAD_SUBSTREAMID:
      w[0] = (w[0] | (((ev.ssid ?? 0) & 0xfffff) << 12)) >>> 0;
      break;
    case EVT_F_STE_FETCH:
      ssid();
      addr2(ev.addr2);
      break;
    case EVT_F_CD_FETCH:
      ssid();
      if (flags.cdFetchAddrArch) addr2(ev.addr2);
      else addr(ev.addr2);
      break;
    case EVT_F_WALK_EABT:
    case EVT_F_TRANSLATION:
    case EVT_F_ADDR_SIZE:
    case EVT_F_ACCESS:
    case EVT_F_PERMISSION: {
      ssid();
      // QEMU 7.2 fills CLASS and the IPA for F_WALK_EABT only (eventClassArch): smmuv3_translate
      // sets the type, address and RnW of the other walk faults, so their CLASS reads 0, as the
      // differential suite against QEMU 7.2 shows.
      const full = flags.eventClassArch || ev.type === EVT_F_WALK_EABT;
      w[3] = (((ev.rnw ? 1 : 0) << 3) | ((ev.s2 ? 1 : 0) << 7) | ((full ? (ev.cls ?? 0) & 3 : 0) << 8)) >>> 0;
      addr(ev.addr);
      if (full) addr2(ev.addr2);
      break;
    }
  }
  return w;
}

export class EventQueue {
  readonly log: EventLogEntry[] = [];
  logLimit = 1024;

  constructor(
    private readonly regs: Smmuv3Registers,
    private readonly mem: GuestReader,
    private readonly flags: ProfileFlags,
    private readonly irqs: Smmuv3Irqs,
  ) {}

  /** The record an event would make, logged nowhere (peek). */
  preview(ev: SmmuEvent, why: string): EventLogEntry {
    return { event: ev, disposition: { kind: 'suppressed', why }, words: encodeEvent(ev, this.flags) };
  }

  /** An event that the R bits suppressed: kept in the log only. */
  suppressed(ev: SmmuEvent, why: string): EventLogEntry {
    return this.push({ event: ev, disposition: { kind: 'suppressed', why }, words: encodeEvent(ev, this.flags) });
  }

  /** smmuv3_record_event + smmuv3_write_eventq. */
  record(ev: SmmuEvent): EventLogEntry {
    const words = encodeEvent(ev, this.flags);
    const regs = this.regs;
    const q = regs.eventq;
    if (!regs.eventqEnabled) return this.push({ event: ev, disposition: { kind: 'eventq-disabled' }, words });
    if (queueFull(q)) {
      if (this.flags.eventqOverflowArch) {
        // Overflow: OVFLG toggles to differ from CONS.OVACKFLG; the event is lost.
        const want = (regs.eventq.cons & EVENTQ_OVFLG) ^ EVENTQ_OVFLG;
        q.prod = ((q.prod & ~EVENTQ_OVFLG) | want) >>> 0;
        return this.push({ event: ev, disposition: { kind: 'overflow' }, words });
      }
      this.irqs.trigger('gerror', GERROR_EVENTQ_ABT_ERR);
      return this.push({ event: ev, disposition: { kind: 'queue-full' }, words });
    }
    const index = queueIndex(q, q.prod);
    const at = BigInt(queueBase(q)) + BigInt(EVENT_RECORD_SIZE * index);
    for (let i = 0; i < 4; i++) {
      const v = (BigInt(words[2 * i + 1]! >>> 0) << 32n) | BigInt(words[2 * i]! >>> 0);
      if (!this.mem.write(at + BigInt(8 * i), 8, v)) {
        this.irqs.trigger('gerror', GERROR_EVENTQ_ABT_ERR);
        return this.push({ event: ev, disposition: { kind: 'abort', why: `event record at ${hex(at)} could not be written` }, words });
      }
    }
    q.prod = queueIncr(q, q.prod);
    if (!queueEmpty(q)) this.irqs.trigger('eventq');
    return this.push({ event: ev, disposition: { kind: 'written', index, addr: at }, words });
  }

  /** Entries pushed since the queue was made (the log keeps the last logLimit). */
  total = 0;

  /** The entries pushed since `total` was `mark`, as far as the log still holds them. */
  since(mark: number): readonly EventLogEntry[] {
    const n = Math.min(this.total - mark, this.log.length);
    return n > 0 ? this.log.slice(this.log.length - n) : [];
  }

  private push(e: EventLogEntry): EventLogEntry {
    this.total++;
    this.log.push(e);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    return e;
  }
}

export function describeDisposition(d: EventDisposition): string {
  switch (d.kind) {
    case 'written':
      return `written to EVENTQ entry ${d.index} at ${hex(d.addr)}`;
    case 'suppressed':
      return `not recorded: ${d.why}`;
    case 'eventq-disabled':
      return 'not recorded: CR0.EVENTQEN is 0';
    case 'overflow':
      return 'lost: the event queue is full (EVENTQ_PROD.OVFLG set)';
    case 'queue-full':
      return 'lost: the event queue is full (QEMU raises GERROR.EVENTQ_ABT_ERR)';
    case 'abort':
      return `lost: ${d.why} (GERROR.EVENTQ_ABT_ERR)`;
  }
}

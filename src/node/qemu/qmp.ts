/**
 * A client for QEMU's machine protocol (QMP; QEMU's docs/interop/qmp-spec.rst): one JSON object a
 * line each way. QEMU greets with `{"QMP": {...}}`; the client leaves capabilities negotiation
 * with `qmp_capabilities`; then every command carries an `id` its reply echoes, and asynchronous
 * `{"event": ...}` messages may arrive between replies. What QMP lacks (`info mtree -f`) goes
 * through `human-monitor-command`.
 *
 * Every wait has a timeout; a peer that is not QEMU, or a QEMU that exits, ends every pending
 * command with an error that says so. Nothing here throws from a socket callback.
 */
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { connectEndpoint, describeEndpoint, type Endpoint } from './endpoint';

export interface QmpGreeting {
  readonly version: { readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number }; readonly package?: string };
  readonly capabilities: readonly string[];
}

export interface QmpEvent {
  readonly event: string;
  readonly data?: Record<string, unknown>;
  readonly timestamp?: { readonly seconds: number; readonly microseconds: number };
}

/** A command QEMU answered with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${desc} (${errorClass})`);
  }
}

export interface QmpOptions {
  /** Connecting and the greeting (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** Each command unless it says otherwise (default 10000 ms). */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly command: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** A line longer than this is not QMP: the peer is something else. */
const MAX_LINE = 64 << 20;

export class QmpClient extends EventEmitter<{ event: [QmpEvent]; close: [string] }> {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closedReason: string | undefined;
  /** Events received, oldest first (bounded). */
  readonly events: QmpEvent[] = [];
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;

  private constructor(
    private readonly sock: net.Socket,
    readonly endpoint: Endpoint,
    private readonly timeoutMs: number,
  ) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (e) => this.fail(`the connection failed: ${e.message}`));
    sock.on('close', () => this.fail('QEMU closed the QMP connection (has it exited?)'));
  }

  /** Connects, reads the greeting and leaves negotiation mode. */
  static async connect(endpoint: Endpoint, opts: QmpOptions = {}): Promise<QmpClient> {
    const connectMs = opts.connectTimeoutMs ?? 5000;
    const sock = await connectEndpoint(endpoint, 'QMP', connectMs);
    const client = new QmpClient(sock, endpoint, opts.timeoutMs ?? 10000);
    try {
      client.greeting = await client.waitGreeting(connectMs);
      await client.execute('qmp_capabilities');
      return client;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  greeting: QmpGreeting | undefined;

  get where(): string {
    return describeEndpoint(this.endpoint);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Runs a command; resolves with its `return` value. */
  execute(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.closedReason !== undefined) return Promise.reject(new Error(`QMP ${command} at ${this.where}: ${this.closedReason}`));
    const id = `iommu-lens-${this.nextId++}`;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command} at ${this.where}: no answer within ${ms} ms`));
      }, ms);
      this.pending.set(id, { command, resolve, reject, timer });
      this.sock.write(JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id }) + '\n');
    });
  }

  /** A human-monitor command's text output. */
  async hmp(commandLine: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const out = await this.execute('human-monitor-command', { 'command-line': commandLine }, opts);
    if (typeof out !== 'string') throw new Error(`QMP human-monitor-command "${commandLine}": expected text, got ${JSON.stringify(out)}`);
    return out;
  }

  /** The next event named `name` (or one already received after `since`), within `timeoutMs`. */
  waitEvent(name: string, timeoutMs: number, since = 0): Promise<QmpEvent> {
    const seen = this.events.slice(since).find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onEvent = (e: QmpEvent) => {
        if (e.event !== name) return;
        done();
        resolve(e);
      };
      const onClose = (why: string) => {
        done();
        reject(new Error(`QMP at ${this.where}: waiting for event ${name}: ${why}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`QMP at ${this.where}: no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  close(): void {
    this.fail('the client closed the connection');
    this.sock.destroy();
  }

  private waitGreeting(ms: number): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greetingWaiter = undefined;
        reject(new Error(`QMP at ${this.where}: no greeting within ${ms} ms; is this QEMU's QMP socket (-qmp or -chardev with -mon mode=control)?`));
      }, ms);
      this.greetingWaiter = {
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE && !this.buffer.includes('\n')) {
      this.notQmp(`a line of more than ${MAX_LINE} bytes`);
      return;
    }
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onLine(line);
      if (this.closedReason !== undefined) return;
    }
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.notQmp(`"${line.length > 60 ? line.slice(0, 60) + '...' : line}"`);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.notQmp(line.slice(0, 60));
      return;
    }
    const m = msg as Record<string, unknown>;
    if (this.greetingWaiter) {
      const g = m.QMP as QmpGreeting | undefined;
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      if (typeof g !== 'object' || g === null || typeof g.version?.qemu?.major !== 'number') {
        this.notQmp(line.slice(0, 60));
        w.reject(new Error(`QMP at ${this.where}: the peer is not a QMP monitor (its first message is ${line.slice(0, 60)})`));
        return;
      }
      w.resolve(g);
      return;
    }
    if (typeof m.event === 'string') {
      const e = m as unknown as QmpEvent;
      this.events.push(e);
      if (this.events.length > 1000) this.events.splice(0, this.events.length - 1000);
      this.emit('event', e);
      return;
    }
    const id = typeof m.id === 'string' ? m.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) return; // a reply to nothing we wait for (timed out): dropped
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('return' in m) {
      p.resolve(m.return);
    } else {
      const err = (m.error ?? {}) as { class?: unknown; desc?: unknown };
      p.reject(new QmpCommandError(p.command, typeof err.class === 'string' ? err.class : 'GenericError', typeof err.desc === 'string' ? err.desc : JSON.stringify(m)));
    }
  }

  private notQmp(what: string): void {
    const why = `the peer is not a QMP monitor (it sent ${what})`;
    if (this.greetingWaiter) {
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      w.reject(new Error(`QMP at ${this.where}: ${why}`));
    }
    this.fail(why);
    this.sock.destroy();
  }

  private fail(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (this.greetingWaiter) {
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      w.reject(new Error(`QMP at ${this.where}: ${reason} before its greeting`));
    }
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new Error(`QMP ${p.command} at ${this.where}: ${reason}`));
    }
    this.emit('close', reason);
  }
}

/**
 * Where a QEMU monitor or gdbstub listens: a unix socket path, or HOST:PORT on TCP. Shared by the
 * QMP and gdbstub clients, the CLI's options and the extension's prompt.
 */
import * as net from 'node:net';

export type Endpoint = { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** `HOST:PORT`, `:PORT` (loopback), `tcp:HOST:PORT`, `unix:PATH`, or a path (anything else). */
export function parseEndpoint(text: string): Endpoint | string {
  const t = text.trim();
  if (t === '') return 'an empty address: give a unix socket path or HOST:PORT';
  if (t.startsWith('unix:')) return t.length > 5 ? { kind: 'unix', path: t.slice(5) } : 'unix: needs a socket path after it';
  const tcp = /^(?:tcp:)?(\[[^\]]+\]|[^:/\s]*):(\d+)$/.exec(t);
  if (tcp) {
    const port = Number(tcp[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${tcp[2]} is not between 1 and 65535`;
    const host = tcp[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1';
    return { kind: 'tcp', host, port };
  }
  if (t.startsWith('tcp:')) return `${t}: expected tcp:HOST:PORT`;
  return { kind: 'unix', path: t };
}

export function describeEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? e.path : `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** Connects, or rejects with a sentence naming the address and the reason, within `timeoutMs`. */
export function connectEndpoint(e: Endpoint, what: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = e.kind === 'unix' ? net.createConnection({ path: e.path }) : net.createConnection({ host: e.host, port: e.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${what} at ${describeEndpoint(e)}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`${what} at ${describeEndpoint(e)}: cannot connect: ${connectReason(err)}`));
    });
  });
}

function connectReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such socket (is QEMU running with this option?)';
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there, or QEMU has exited)';
    case 'EACCES':
      return 'permission denied';
    case 'ENOTSOCK':
      return 'not a socket';
    default:
      return err.message;
  }
}

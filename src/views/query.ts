/**
 * Parsing what a person types for a query: an address (`0x1000_0000`, `4KiB`, `4096`) and
 * attributes (`secure,user,requester-id=0x10`, `unspecified`, `ns`). Shared by the CLI's flags and
 * the extension's input boxes so both accept the same things.
 */
import type { MemTxAttrs, SecuritySpace } from '../engine';
import { parseConfigNumber } from '../config/numbers';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function parseAddress(text: string): Parsed<bigint> {
  const r = parseConfigNumber(text.trim());
  return r.ok ? r : { ok: false, message: r.message };
}

const SPACES: readonly SecuritySpace[] = ['secure', 'non-secure', 'root', 'realm'];

export function parseAttrs(text: string): Parsed<MemTxAttrs> {
  const out: { -readonly [K in keyof MemTxAttrs]: MemTxAttrs[K] } = {};
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const p of parts) {
    const [k, v] = p.split('=', 2).map((s) => s.trim()) as [string, string | undefined];
    const key = k.toLowerCase();
    if (v === undefined) {
      switch (key) {
        case 'unspecified':
          if (parts.length > 1) return { ok: false, message: 'unspecified attributes carry nothing else' };
          return { ok: true, value: { unspecified: true } };
        case 'secure':
        case 's':
          out.secure = true;
          break;
        case 'non-secure':
        case 'nonsecure':
        case 'ns':
          out.secure = false;
          break;
        case 'user':
          out.user = true;
          break;
        case 'memory':
          out.memory = true;
          break;
        case 'debug':
          out.debug = true;
          break;
        default:
          return { ok: false, message: `unknown attribute "${k}" (secure, ns, user, memory, debug, unspecified, space=, requester-id=, pasid=)` };
      }
      continue;
    }
    switch (key) {
      case 'requester-id':
      case 'rid':
      case 'pasid': {
        const n = parseConfigNumber(v, key === 'pasid' ? 1n << 20n : 1n << 16n);
        if (!n.ok) return { ok: false, message: `${k}: ${n.message}` };
        if (key === 'pasid') out.pasid = Number(n.value);
        else out.requesterId = Number(n.value);
        break;
      }
      case 'space':
        if (!SPACES.includes(v as SecuritySpace)) return { ok: false, message: `space must be one of ${SPACES.join(', ')}` };
        out.space = v as SecuritySpace;
        break;
      case 'secure':
      case 'user':
      case 'memory':
      case 'debug': {
        if (v !== 'true' && v !== 'false' && v !== '1' && v !== '0') return { ok: false, message: `${k} is true or false` };
        out[key] = v === 'true' || v === '1';
        break;
      }
      default:
        return { ok: false, message: `unknown attribute "${k}"` };
    }
  }
  return { ok: true, value: out };
}

/**
 * Matching transaction attributes against a pattern: how the table model (and the config's
 * index selectors) decide which index a transaction uses.
 */
import type { MemTxAttrs, SecuritySpace } from './attrs';
import { hex } from './hex';

export interface AttrsMatcher {
  readonly unspecified?: boolean;
  readonly secure?: boolean;
  readonly space?: SecuritySpace;
  readonly user?: boolean;
  readonly memory?: boolean;
  readonly debug?: boolean;
  /** One ID, or an inclusive [first, last] range. */
  readonly requesterId?: number | readonly [number, number];
  readonly pasid?: number | readonly [number, number];
}

function matchId(want: number | readonly [number, number], have: number | undefined): boolean {
  if (have === undefined) return false;
  return typeof want === 'number' ? have === want : have >= want[0] && have <= want[1];
}

/** Every key the matcher names must hold; absent attributes read as false / unset. */
export function attrsMatch(m: AttrsMatcher, a: MemTxAttrs): boolean {
  if (m.unspecified !== undefined && m.unspecified !== !!a.unspecified) return false;
  if (m.secure !== undefined && m.secure !== !!a.secure) return false;
  if (m.space !== undefined && m.space !== a.space) return false;
  if (m.user !== undefined && m.user !== !!a.user) return false;
  if (m.memory !== undefined && m.memory !== !!a.memory) return false;
  if (m.debug !== undefined && m.debug !== !!a.debug) return false;
  if (m.requesterId !== undefined && !matchId(m.requesterId, a.requesterId)) return false;
  if (m.pasid !== undefined && !matchId(m.pasid, a.pasid)) return false;
  return true;
}

export function formatMatcher(m: AttrsMatcher): string {
  const parts: string[] = [];
  const flag = (k: string, v: boolean | undefined) => {
    if (v !== undefined) parts.push(v ? k : `!${k}`);
  };
  flag('unspecified', m.unspecified);
  flag('secure', m.secure);
  if (m.space !== undefined) parts.push(`space=${m.space}`);
  flag('user', m.user);
  flag('memory', m.memory);
  flag('debug', m.debug);
  const id = (k: string, v: number | readonly [number, number] | undefined) => {
    if (v === undefined) return;
    parts.push(typeof v === 'number' ? `${k}=${hex(v)}` : `${k}=${hex(v[0])}..${hex(v[1])}`);
  };
  id('requester-id', m.requesterId);
  id('pasid', m.pasid);
  return parts.length ? parts.join(',') : 'any';
}


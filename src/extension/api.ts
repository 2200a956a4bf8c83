/**
 * The API IOMMU Lens's `activate` returns to other extensions:
 *
 *   const api = await vscode.extensions.getExtension<IommuLensApi>('iommu-lens.iommu-lens')?.activate();
 *   if (api?.apiVersion === 1) { await api.ready; api.translate({ config: 'an505.iommu.yaml', from: 'cpu-ns', addr: '0x8000' }); }
 *
 * Plain values only (no engine or VS Code objects), 64-bit values as bigint. `apiVersion` is 1;
 * a change that breaks a caller of version 1 raises it (adding a field or a function does not).
 * test/integration/api.test.ts calls it from the test-runner extension and pins its shape.
 * The README's "Extension API" section documents it for users.
 */
import * as vscode from 'vscode';
import type { AccessOp } from '../engine';
import { isEngineError } from '../engine';
import { parseAddress, parseAttrs } from '../views/query';
import { regionViews, translationView } from '../views/views';
import type { ConfigStore } from './configs';

export const API_VERSION = 1;

export interface IommuLensApi {
  /** 1 for this shape; check it before using the rest. */
  readonly apiVersion: typeof API_VERSION;
  /** Resolves once the first scan of the workspace has loaded every config. */
  readonly ready: Promise<void>;
  /** Fires after a config is loaded, reloaded or forgotten. */
  readonly onDidChangeConfigs: vscode.Event<void>;
  /** The device configs loaded from the workspace (and open example documents). */
  configs(): ApiConfig[];
  /** A config's IOMMU regions and their indexes; `config` is a file as `configs()` names it, or a URI. */
  regions(config: string): ApiRegion[] | ApiError;
  /** Where an access lands (or why it faults), as Translate Address answers it; no side effects. */
  translate(request: ApiTranslateRequest): ApiTranslation | ApiError;
}

export interface ApiConfig {
  /** The file as the views name it: relative to the workspace folder. */
  readonly file: string;
  readonly uri: string;
  readonly errors: number;
  readonly warnings: number;
}

export interface ApiRegion {
  /** The IOMMU's name in the config, and the region's (the same unless a model has several, like SMMUv3's one per stream). */
  readonly iommu: string;
  readonly name: string;
  readonly model: string;
  readonly size: bigint;
  readonly minPageSize: bigint;
  readonly indexes: ReadonlyArray<{ readonly index: number; readonly name: string; readonly selector: string }>;
}

export interface ApiTranslateRequest {
  readonly config: string;
  /** A device or an address space of the config. */
  readonly from: string;
  /** 0x8000, 4096, 4KiB, 0x1000_0000, or a bigint. */
  readonly addr: string | bigint;
  readonly op?: AccessOp;
  /** As the CLI's --attrs: `secure`, `ns`, `user`, `requester-id=0x10`, ...; absent: the initiator's own. */
  readonly attrs?: string;
}

export interface ApiTranslation {
  readonly ok: boolean;
  /** QEMU's MemTxResult name: MEMTX_OK, MEMTX_ERROR, MEMTX_DECODE_ERROR, ... */
  readonly result: string;
  /** One line: where it lands, or the fault. */
  readonly headline: string;
  readonly landing?: { readonly region: string; readonly kind: string; readonly offset: bigint; readonly addressSpace: string; readonly addr: bigint };
  /** The composed IOTLB entry. */
  readonly entry: { readonly iova: bigint; readonly translatedAddr: bigint; readonly addrMask: bigint; readonly perm: number };
  /** The translation's steps, one line each. */
  readonly steps: readonly string[];
}

/** A request the API cannot answer: an unknown config, device or address, bad attributes. */
export interface ApiError {
  readonly error: string;
}

export function createApi(store: ConfigStore, onDidChangeConfigs: vscode.Event<void>): IommuLensApi {
  const find = (config: string) => store.find(config) ?? store.get(config);
  return {
    apiVersion: API_VERSION,
    ready: store.ready,
    onDidChangeConfigs,
    configs: () =>
      store.all.map((e) => ({ file: e.config.file, uri: e.uri.toString(), errors: e.config.errorCount, warnings: e.config.warningCount })),
    regions(config) {
      const e = find(config);
      if (!e) return { error: `no config ${config} is loaded` };
      return regionViews(e.config).map((r) => ({
        iommu: r.iommu,
        name: r.name,
        model: r.model,
        size: r.size,
        minPageSize: r.minPageSize,
        indexes: r.indexes.map((i) => ({ index: i.index, name: i.name, selector: i.selector })),
      }));
    },
    translate(q) {
      const e = find(q.config);
      if (!e) return { error: `no config ${q.config} is loaded` };
      const addr = typeof q.addr === 'bigint' ? { ok: true as const, value: q.addr } : parseAddress(q.addr);
      if (!addr.ok) return { error: addr.message };
      let attrs;
      if (q.attrs !== undefined && q.attrs.trim() !== '') {
        const p = parseAttrs(q.attrs);
        if (!p.ok) return { error: p.message };
        attrs = p.value;
      }
      if (q.op !== undefined && q.op !== 'read' && q.op !== 'write') return { error: `op is read or write, not ${String(q.op)}` };
      const v = translationView(e.config, { from: q.from, addr: addr.value, op: q.op, attrs });
      if (isEngineError(v)) return { error: v.message };
      const l = v.landing;
      return {
        ok: v.ok,
        result: v.result,
        headline: v.headline,
        landing: v.ok && l.region ? { region: l.region.name, kind: l.region.kind, offset: l.offset, addressSpace: l.as.name, addr: l.addr } : undefined,
        entry: { iova: l.entry.iova, translatedAddr: l.entry.translatedAddr, addrMask: l.entry.addrMask, perm: l.entry.perm },
        steps: v.steps.map((s) => `${s.n}. ${s.kind}: ${s.summary}`),
      };
    },
  };
}

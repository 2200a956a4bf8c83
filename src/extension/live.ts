/**
 * "Attach to QEMU...": a running QEMU as a root of the Regions view (live.ts in src/node/qemu
 * builds its config and reads guest memory over the gdbstub). Translate and Step Through work on
 * it like on a file. The extension only reads: it never writes guest memory or registers.
 *
 * Translation is synchronous, guest memory is not: after attaching (and after each refresh) the
 * machine is warmed up, its tables walked once for every region's mappings and every device, until
 * every page those walks need is fetched. A later translation that needs a page never fetched
 * faults with "not read from QEMU yet"; Refresh reads it. When QEMU goes away the root says
 * "disconnected"; Refresh attaches again.
 */
import * as vscode from 'vscode';
import { loadConfig, type LoadedConfig } from '../config/load';
import { describeEndpoint, parseEndpoint, type Endpoint } from '../node/qemu/endpoint';
import { LiveQemu } from '../node/qemu/live';
import { writeSnapshot } from '../node/qemu/snapshot';
import { mappingPageView, regionViews } from '../views/views';
import type { Ctx } from './ctx';

const RECENT_KEY = 'iommuLens.recentQemu';
const READ_ONLY = 'IOMMU Lens only reads from QEMU: it never writes guest memory or registers.';

interface Recent {
  readonly qmp: string;
  readonly gdb?: string;
}

interface Session {
  readonly uri: vscode.Uri;
  readonly recent: Recent;
  live?: LiveQemu;
}

export class LiveSessions implements vscode.Disposable {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly ctx: Ctx,
    private readonly memento: vscode.Memento,
  ) {}

  commands(): Record<string, (...args: unknown[]) => unknown> {
    return {
      // With `{ qmp, gdb? }` (another extension, a test) it attaches without asking; it returns
      // the live config's file name, which Translate's `config` argument takes.
      'iommuLens.attachQemu': async (args?: unknown) => {
        const a = args as Partial<Recent> | undefined;
        if (typeof a?.qmp === 'string') return (await this.attach({ qmp: a.qmp, gdb: typeof a.gdb === 'string' ? a.gdb : undefined }))?.file;
        return (await this.attachPrompt())?.file;
      },
      'iommuLens.refreshQemu': () => this.refreshAll(),
      'iommuLens.detachQemu': () => this.detachAll(),
      'iommuLens.saveSnapshot': () => this.saveSnapshot(),
    };
  }

  private async attachPrompt(): Promise<LoadedConfig | undefined> {
    const recent = this.memento.get<Recent[]>(RECENT_KEY, []);
    let chosen: Recent | undefined;
    if (recent.length) {
      const pick = await vscode.window.showQuickPick(
        [...recent.map((r) => ({ label: r.qmp, description: r.gdb ? `gdbstub ${r.gdb}` : 'no gdbstub', recent: r })), { label: 'New...', description: 'other sockets', recent: undefined }],
        { title: 'Attach to QEMU', placeHolder: 'A QMP socket (and gdbstub) used before, or New...' },
      );
      if (!pick) return undefined;
      chosen = pick.recent;
    }
    if (!chosen) {
      const valid = (v: string) => {
        const e = parseEndpoint(v);
        return typeof e === 'string' ? e : undefined;
      };
      const qmp = await vscode.window.showInputBox({
        title: 'Attach to QEMU (1/2): QMP',
        prompt: "QEMU's QMP socket: a unix socket path (-qmp unix:PATH,server=on,wait=off) or HOST:PORT",
        validateInput: valid,
        ignoreFocusOut: true,
      });
      if (!qmp) return undefined;
      const gdb = await vscode.window.showInputBox({
        title: 'Attach to QEMU (2/2): gdbstub',
        prompt: "QEMU's gdbstub (-gdb tcp:127.0.0.1:1234) as HOST:PORT; empty: read guest memory with the monitor (slower)",
        validateInput: (v) => (v.trim() === '' ? undefined : valid(v)),
        ignoreFocusOut: true,
      });
      if (gdb === undefined) return undefined;
      chosen = { qmp: qmp.trim(), gdb: gdb.trim() || undefined };
    }
    await this.memento.update(RECENT_KEY, [chosen, ...recent.filter((r) => r.qmp !== chosen.qmp || r.gdb !== chosen.gdb)].slice(0, 8));
    return this.attach(chosen);
  }

  /** Attaches (or re-attaches) and shows the machine; the error, if any, as a message. */
  async attach(r: Recent): Promise<LoadedConfig | undefined> {
    const qmp = parseEndpoint(r.qmp) as Endpoint;
    const gdb = r.gdb ? (parseEndpoint(r.gdb) as Endpoint) : undefined;
    const uri = vscode.Uri.from({ scheme: 'iommu-lens-live', path: `/qemu ${describeEndpoint(qmp)}.iommu.yaml` });
    const session: Session = this.sessions.get(uri.toString()) ?? { uri, recent: r };
    this.sessions.set(uri.toString(), session);
    try {
      const config = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Attaching to QEMU at ${describeEndpoint(qmp)}` }, async () => {
        await session.live?.detach();
        const live = await LiveQemu.attach({ qmp, gdb });
        session.live = live;
        live.qmp.once('close', (why: string) => this.disconnected(session, why));
        return this.warmUp(live);
      });
      this.ctx.store.setLive(uri, config);
      this.ctx.refreshViews();
      this.ctx.log.info(`attached to QEMU ${session.live!.versionText} (${session.live!.where}); ${session.live!.cache.fetched} guest pages read`);
      void vscode.window.showInformationMessage(`Attached to QEMU ${session.live!.versionText}: ${config.machine.iommus.size} IOMMU(s), ${config.machine.devices.size} device(s). ${READ_ONLY}`);
      return config;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.ctx.log.error('attach to QEMU failed', e);
      this.disconnected(session, msg);
      void vscode.window.showErrorMessage(`IOMMU Lens: ${msg}`);
      return undefined;
    }
  }

  /** Loads the live config and walks what views and translations will walk, until nothing is missing. */
  private warmUp(live: LiveQemu): Promise<LoadedConfig> {
    return live.settle(() => {
      const cfg = live.load();
      for (const r of regionViews(cfg)) for (let i = 0; i < r.region.numIndexes(); i++) mappingPageView(r.region, i, undefined, 200);
      for (const d of cfg.machine.devices.keys()) {
        cfg.machine.translate({ from: d, addr: 0n, op: 'read', probe: true });
        cfg.machine.translate({ from: d, addr: 0n, op: 'write', probe: true });
      }
      return cfg;
    });
  }

  /** The root stays, with a name that says QEMU is gone and why. */
  private disconnected(s: Session, why: string): void {
    const name = `QEMU ${s.recent.qmp} (disconnected: ${why})`;
    const text = `# ${READ_ONLY}\niommu-lens: 1\nname: ${JSON.stringify(name)}\nmemory: {}\n`;
    this.ctx.store.setLive(s.uri, loadConfig(s.uri.path.slice(1), text));
    this.ctx.refreshViews();
  }

  private async refreshAll(): Promise<void> {
    for (const s of this.sessions.values()) await this.attach(s.recent);
  }

  private async detachAll(): Promise<void> {
    for (const s of this.sessions.values()) {
      await s.live?.detach();
      this.ctx.store.setLive(s.uri, undefined);
    }
    this.sessions.clear();
    this.ctx.refreshViews();
  }

  private async saveSnapshot(): Promise<void> {
    const live = [...this.sessions.values()].map((s) => s.live).find((l) => l?.connected);
    if (!live) {
      void vscode.window.showWarningMessage('IOMMU Lens: no QEMU attached (IOMMU: Attach to QEMU...)');
      return;
    }
    const dir = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Save Snapshot Here', title: 'Snapshot of the attached QEMU' });
    if (!dir?.[0]) return;
    const files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Saving snapshot (QMP dump-guest-memory)' }, () =>
      writeSnapshot(live, dir[0]!.fsPath),
    );
    await vscode.window.showTextDocument(vscode.Uri.file(files.config));
  }

  dispose(): void {
    for (const s of this.sessions.values()) void s.live?.detach();
  }
}

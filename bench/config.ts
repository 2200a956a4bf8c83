/**
 * Config loading and CLI start-up (issue 9's config figures): load + check of a generated config
 * beside JSON.parse of the same content measured in the same run (the anchor, with the ratio), the
 * JSON form, the parse alone by each route, a scaling section (1k / 10k / 50k regions: linear
 * means the per-region cost stays flat), and a one-shot `iommu-lens translate` as a whole process
 * beside bare `node -e 0` (median of many spawns, the two taking turns).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigDocument } from '../src/config/document';
import { loadConfig } from '../src/config/load';
import { time, type BenchResult } from './harness';

/** The generated config as a value: `regions` RAM regions in one address space, a table IOMMU with `mappings` mappings. */
export function generatedValue(regions: number, mappings: number): Record<string, unknown> {
  const memory: Record<string, unknown> = {};
  for (let i = 0; i < regions; i++) memory[`r${i}`] = { kind: 'ram', size: '64KiB' };
  const maps = [];
  for (let i = 0; i < mappings; i++) maps.push({ iova: 0x10000 * i, size: '4KiB', target: 'system', addr: 0x10000 * (i % regions), perm: 'rw' });
  const system = [];
  for (let i = 0; i < regions; i++) system.push({ at: 0x10000 * i, region: `r${i}` });
  return {
    'iommu-lens': 1,
    name: 'generated',
    memory,
    iommus: { big: { model: 'table', size: '16GiB', indexes: [{ name: 'all', mappings: maps }] } },
    'address-spaces': { system },
    devices: { dev: { iommu: 'big' } },
  };
}

/** The same config in YAML as a person writes it: one flow mapping a line. */
export function generatedYaml(regions: number, mappings: number): string {
  const lines = ['iommu-lens: 1', 'name: generated', 'memory:'];
  for (let i = 0; i < regions; i++) lines.push(`  r${i}: { kind: ram, size: 64KiB }`);
  lines.push('iommus:', '  big:', '    model: table', '    size: 16GiB', '    indexes:', '      - name: all', '        mappings:');
  for (let i = 0; i < mappings; i++) lines.push(`          - { iova: ${0x10000 * i}, size: 4KiB, target: system, addr: ${0x10000 * (i % regions)}, perm: rw }`);
  lines.push('address-spaces:', '  system:');
  for (let i = 0; i < regions; i++) lines.push(`    - { at: ${0x10000 * i}, region: r${i} }`);
  lines.push('devices:', '  dev: { iommu: big }', '');
  return lines.join('\n');
}

function loadChecked(file: string, text: string): unknown {
  const cfg = loadConfig(file, text);
  if (cfg.errorCount) throw new Error(`${file}: the generated config has errors: ${cfg.diagnostics[0]?.message}`);
  return cfg;
}

function ratio(name: string, r: BenchResult, anchor: BenchResult): BenchResult {
  return { ...r, name: `${name} (${(r.median / anchor.median).toFixed(1)}x JSON.parse)` };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Whole-process wall time of commands, median of `rounds` spawns each. The commands take turns
 * (a, b, a, b...), so that a moment of load elsewhere on the machine falls on both alike.
 */
function processTimes(cmds: ReadonlyArray<{ name: string; args: string[]; goal?: string }>, rounds: number): BenchResult[] {
  const ms: number[][] = cmds.map(() => []);
  for (let r = 0; r <= rounds; r++) {
    cmds.forEach((c, i) => {
      const t0 = performance.now();
      const p = spawnSync(process.execPath, c.args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const dt = performance.now() - t0;
      if (p.status !== 0 && p.status !== 1) throw new Error(`${c.args.join(' ')} exited ${p.status}: ${p.stderr.toString()}`);
      if (r > 0) ms[i]!.push(dt); // the first run warms the file cache
    });
  }
  return cmds.map((c, i) => ({ name: c.name, median: median(ms[i]!), min: Math.min(...ms[i]!), max: Math.max(...ms[i]!), unit: 'ms', rounds, goal: c.goal, clock: 'wall' }));
}

export function benchConfig(rounds: number, quick: boolean): BenchResult[] {
  const out: BenchResult[] = [];
  const r = quick ? 2 : rounds;

  // 10,000 regions + 10,000 mappings, YAML and JSON, each beside JSON.parse of the same content.
  const value = generatedValue(10_000, 10_000);
  const yaml = generatedYaml(10_000, 10_000);
  const json = JSON.stringify(value, null, 1);
  const anchor = time('anchor: JSON.parse of the same config (JSON text)', () => JSON.parse(json), r);
  out.push(anchor);
  out.push(ratio('load + check 10k regions + 10k mappings, YAML', time('', () => loadChecked('generated.iommu.yaml', yaml), r, '< 400 ms'), anchor));
  out.push(ratio('load + check 10k regions + 10k mappings, JSON', time('', () => loadChecked('generated.iommu.json', json), r, '< 150 ms'), anchor));
  // Where the time goes: the parse alone, by the route a valid file takes and by the yaml package.
  out.push(ratio('  of which the parse, YAML (fast route)', time('', () => new ConfigDocument('generated.iommu.yaml', yaml).toJS(), r), anchor));
  out.push(ratio('  of which the parse, JSON (fast route)', time('', () => new ConfigDocument('generated.iommu.json', json).toJS(), r), anchor));
  out.push(ratio('  the parse by the yaml package (files it must read)', time('', () => new ConfigDocument('generated.iommu.yaml', yaml, 'yaml').toJS(), Math.min(r, 3)), anchor));

  // Scaling: per-region cost should stay flat from 1k to 50k; each size beside JSON.parse of its JSON form.
  let first: number | undefined;
  for (const n of [1_000, 10_000, 50_000]) {
    const text = generatedYaml(n, n);
    const asJson = JSON.stringify(generatedValue(n, n), null, 1);
    const rr = n >= 50_000 ? Math.min(r, 3) : r;
    const a = time('', () => JSON.parse(asJson), rr);
    const t = time('', () => loadChecked('generated.iommu.yaml', text), rr, n === 50_000 ? '< 2 s' : undefined);
    const perRegion = (t.median * 1000) / n;
    first ??= perRegion;
    out.push({
      ...t,
      name: `scaling: ${n / 1000}k regions + ${n / 1000}k mappings, YAML (${(t.median / a.median).toFixed(1)}x JSON.parse ${a.median.toFixed(1)} ms)`,
      note: `${perRegion.toFixed(1)} us a region, ${(perRegion / first).toFixed(2)}x the smallest`,
    });
  }

  // CLI start-up: a one-shot translate on the SMMUv3 example, beside bare node, spawned in turns.
  const cli = join(__dirname, 'cli.js');
  const example = join(__dirname, '..', 'examples', 'virt-smmuv3.iommu.yaml');
  if (existsSync(cli) && existsSync(example)) {
    const n = quick ? 5 : 15;
    const [bare, t] = processTimes(
      [
        { name: 'anchor: node -e 0 (whole process)', args: ['-e', '0'] },
        { name: '', args: [cli, 'translate', example, '--from', 'edu0', '--addr', '0x1000_0010'], goal: '< 150 ms' },
      ],
      n,
    );
    out.push(bare!);
    out.push({ ...t!, name: `CLI translate on virt-smmuv3 (whole process; ${(t!.median - bare!.median).toFixed(0)} ms over bare node, ${(t!.median / bare!.median).toFixed(1)}x)` });
  }
  return out;
}

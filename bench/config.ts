/**
 * Config loading and CLI start-up (issue 9's config figures): load + check of a generated config
 * beside JSON.parse of the same content measured in the same run (the anchor, with the ratio), the
 * JSON form, the parse alone by each route, a scaling section (1k / 10k / 50k regions: linear
 * means the per-region cost stays flat), and a one-shot `iommu-lens translate` as a whole process
 * beside bare `node -e 0` (median of many spawns, the two taking turns).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
 * (a, b, a, b...), so that a moment of load elsewhere on the machine falls on both alike. `env`,
 * made before each spawn and outside its time, adds to the environment.
 */
function processTimes(cmds: ReadonlyArray<{ name: string; args: string[]; goal?: string; env?: () => Record<string, string> }>, rounds: number): BenchResult[] {
  const ms: number[][] = cmds.map(() => []);
  for (let r = 0; r <= rounds; r++) {
    cmds.forEach((c, i) => {
      const env = c.env ? { ...process.env, ...c.env() } : process.env;
      const t0 = performance.now();
      const p = spawnSync(process.execPath, c.args, { stdio: ['ignore', 'ignore', 'pipe'], env });
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

  // CLI start-up: a one-shot translate on the SMMUv3 example as users run it (bin/iommu-lens.js),
  // beside bare node, spawned in turns: with V8's code cache from an earlier run (every run after
  // the first), cold (an empty cache directory: the first run compiles and writes the cache), and
  // without a cache (the bundle compiled on every start, as before the cache).
  const bin = join(__dirname, '..', 'bin', 'iommu-lens.js');
  const example = join(__dirname, '..', 'examples', 'virt-smmuv3.iommu.yaml');
  if (existsSync(join(__dirname, 'cli.js')) && existsSync(bin) && existsSync(example)) {
    const n = quick ? 5 : 15;
    const args = [bin, 'translate', example, '--from', 'edu0', '--addr', '0x1000_0010'];
    const scratch = mkdtempSync(join(tmpdir(), 'iommu-lens-bench-'));
    let cold = 0;
    try {
      const warmDir = join(scratch, 'warm');
      const times = processTimes(
        [
          { name: 'anchor: node -e 0 (whole process)', args: ['-e', '0'] },
          // (The first, untimed round writes the warm cache.)
          { name: 'code cache from an earlier run', args, goal: '< 150 ms', env: () => ({ IOMMU_LENS_CACHE_DIR: warmDir }) },
          { name: 'cold: the first run, which writes the cache', args, goal: '< 150 ms', env: () => ({ IOMMU_LENS_CACHE_DIR: join(scratch, `cold-${cold++}`) }) },
          { name: 'no code cache (compiled on every start)', args, env: () => ({ IOMMU_LENS_CACHE_DIR: '' }) },
        ],
        n,
      );
      const bare = times[0]!;
      out.push(bare);
      for (const t of times.slice(1)) {
        out.push({ ...t, name: `CLI translate on virt-smmuv3, ${t.name} (whole process; ${(t.median - bare.median).toFixed(0)} ms over bare node, ${(t.median / bare.median).toFixed(1)}x)` });
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return out;
}

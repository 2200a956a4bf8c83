/**
 * `npm run bench`: translation and loading speed on this machine. Rates are medians over rounds
 * with their spread; compare runs by ratio, not by the last digit.
 *   node dist/bench.js [--json] [--quick] [--only=TEXT]
 * Each figure stands beside its goal (`ok` / `MISSED`), anchors (the same work as plain
 * JavaScript in the same run) beside what they anchor, with the ratio; the scaling section gives
 * the time per item at each size and its growth (1.00x is linear). `--only` runs the groups whose
 * name contains TEXT (smmuv3, shadows, scaling, load, images, models).
 */
import { ConfigDocument } from '../src/config/document';
import { loadConfig } from '../src/config/load';
import {
  AddressSpace,
  ContainerRegion,
  IOMMU_RO,
  MEMTXATTRS_UNSPECIFIED,
  RamRegion,
  TableIommu,
  addressSpaceForRegion,
  isEngineError,
  newNumberEntry,
  translateAccess,
  type IOMMUNotifier,
  type TableMapping,
} from '../src/engine';
import { TzMpc } from '../src/engine/models/tz-mpc';
import { generatedConfig } from './generate';
import { CLOCK, format, judged, rate, time, type BenchResult } from './harness';
import { benchImages } from './images';
import { benchShadowCheck, benchVfio, benchVhostFill } from './shadows';
import { benchReplay, benchSmmuv3 } from './smmuv3';
import { benchConfig } from './config';
import { benchIntelIommu } from './intel-iommu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
/** Largest size the scaling section runs (a quadratic build would take hours at 1M). */
const SCALE_MAX = Number(process.env.BENCH_SCALE_MAX ?? 1_000_000);

/** xorshift: the same addresses every run. */
function addresses(n: number, span: bigint, align: bigint): bigint[] {
  let x = 0x2545f491;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push((BigInt(x >>> 0) * 4099n) % span & ~(align - 1n));
  }
  return out;
}

function mpc(): TzMpc {
  const ram = new RamRegion('ssram', 4n << 20n);
  const lut = Array.from({ length: 128 }, (_, i) => BigInt((i * 0x9e3779b1) >>> 0));
  const m = TzMpc.create({ name: 'mpc0', downstream: ram, blockSize: 1024n, lut });
  if (isEngineError(m)) throw new Error(m.message);
  return m;
}

function benchMpcTranslate(): BenchResult {
  const region = mpc().regionFor(undefined);
  const addrs = addresses(4096, 4n << 20n, 4n);
  return rate(
    {
      name: 'TZ MPC translate()',
      unit: 'translations/s',
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += region.translate(addrs[i & 4095]!, IOMMU_RO, i & 1).perm;
        return acc;
      },
    },
    ROUNDS,
  );
}

/** Two table IOMMUs in a row: a device's space -> iommu A -> a space holding iommu B -> RAM. */
function benchNested(): BenchResult {
  const ram = new RamRegion('ram', 1n << 30n);
  const sys = new AddressSpace('system', new ContainerRegion('system-root', 1n << 64n));
  sys.root.addSubregion(ram, 0x8000_0000n);
  const inner = TableIommu.create({
    name: 'inner',
    size: 1n << 32n,
    indexes: [{ name: 'all', mappings: [{ iova: 0n, size: 1n << 28n, targetAs: sys, target: 0x8000_0000n, perm: 3 }] }],
  });
  if (isEngineError(inner)) throw new Error(inner.message);
  const mid = new AddressSpace('mid', new ContainerRegion('mid-root', 1n << 64n));
  mid.root.addSubregion(inner.region, 0n);
  const outer = TableIommu.create({
    name: 'outer',
    size: 1n << 32n,
    minPageSize: 65536n,
    indexes: [{ name: 'all', mappings: [{ iova: 0n, size: 1n << 28n, targetAs: mid, target: 0n, perm: 3 }] }],
  });
  if (isEngineError(outer)) throw new Error(outer.message);
  const dev = addressSpaceForRegion(outer.region, 'dev');
  const addrs = addresses(4096, 1n << 28n, 8n);
  return rate(
    {
      name: 'nested translation, two IOMMUs (translateAccess)',
      unit: 'translations/s',
      run: (n) => {
        let acc = 0n;
        for (let i = 0; i < n; i++) acc ^= translateAccess({ as: dev, addr: addrs[i & 4095]!, op: 'read', attrs: MEMTXATTRS_UNSPECIFIED }).addr;
        return acc;
      },
    },
    ROUNDS,
  );
}

function benchMpcReplay(): BenchResult[] {
  const region = mpc().regionFor(undefined);
  let delivered = 0;
  const n: IOMMUNotifier = { name: 'bench', owner: 'bench', flags: 3, start: 0n, end: (1n << 64n) - 1n, iommuIdx: 0, notify: () => delivered++ };
  const r = rate(
    {
      name: 'default replay of a 4 MiB MPC (4096 blocks)',
      unit: 'replays/s',
      run: (k) => {
        for (let i = 0; i < k; i++) region.replay(n);
        return delivered;
      },
    },
    ROUNDS,
  );
  return [r, { ...r, name: '  the same, as translations', median: r.median * 4096, min: r.min * 4096, max: r.max * 4096, unit: 'translations/s' }];
}

function benchTable(): BenchResult[] {
  const ram = new RamRegion('ram', 1n << 32n);
  const target = addressSpaceForRegion(ram);
  const mappings: TableMapping[] = [];
  for (let i = 0; i < 100_000; i++) mappings.push({ iova: BigInt(i) * 0x2000n, size: 0x1000n, targetAs: target, target: BigInt(i) * 0x1000n, perm: 3 });
  const t = TableIommu.create({ name: 'table', size: 1n << 32n, indexes: [{ name: 'all', mappings }] });
  if (isEngineError(t)) throw new Error(t.message);
  const region = t.region;
  const addrs = addresses(4096, 100_000n * 0x2000n, 8n);
  const viaTranslate = rate(
    {
      name: 'table model translate() among 100,000 mappings',
      unit: 'translations/s',
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += region.translate(addrs[i & 4095]!, IOMMU_RO, 0).perm;
        return acc;
      },
    },
    ROUNDS,
  );
  const fast = region.numberTranslator(0);
  if (fast === undefined) throw new Error('the table model has no number translator');
  const an = addrs.map(Number);
  const e = newNumberEntry();
  const viaNumbers = rate(
    {
      name: '  the same through the number path (no allocation)',
      unit: 'translations/s',
      run: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          fast.translate(an[i & 4095]!, IOMMU_RO, e);
          acc += e.perm;
        }
        return acc;
      },
    },
    ROUNDS,
  );
  return [viaTranslate, viaNumbers];
}

function benchLoad(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const f of ['an505.iommu.yaml', 'dual-regime.iommu.yaml']) {
    const text = readFileSync(join(__dirname, '..', 'examples', f), 'utf8');
    out.push(time(`load and check examples/${f}`, () => loadConfig(f, text), ROUNDS, '< 50 ms'));
  }
  const big = generatedConfig(10_000, 10_000);
  const r = time('load and check 10,000 regions + 10,000 mappings', () => loadConfig('generated.iommu.yaml', big), quick ? 2 : 5, '< 500 ms');
  const check = loadConfig('generated.iommu.yaml', big);
  if (check.errorCount) throw new Error(`the generated config has errors: ${check.diagnostics[0]?.message}`);
  out.push(r);
  out.push(time('  of which parsing the YAML (its fast route)', () => new ConfigDocument('generated.iommu.yaml', big), quick ? 2 : 5));
  out.push(time('  parsing it with the yaml package instead', () => new ConfigDocument('generated.iommu.yaml', big, 'yaml'), quick ? 2 : 3));
  return out;
}

/** Per-item time at each size, and its growth from the smallest size (1.00x: linear). */
function scaling(label: string, sizes: readonly number[], run: (n: number) => BenchResult): BenchResult[] {
  const out: BenchResult[] = [];
  let first: number | undefined;
  for (const n of sizes.filter((k) => k <= SCALE_MAX)) {
    const r = run(n);
    const perItemUs = (r.median * 1000) / n;
    first ??= perItemUs;
    out.push({ ...r, name: `  ${label} ${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`}`, note: `${perItemUs.toFixed(2)} us/item, ${(perItemUs / first).toFixed(2)}x the smallest` });
  }
  return out;
}

function main(): void {
  const results: BenchResult[] = [];
  const group = (name: string) => only === undefined || name.includes(only);
  const step = (r: BenchResult | BenchResult[]) => {
    for (const x of Array.isArray(r) ? r : [r]) {
      results.push(judged(x));
      if (!process.argv.includes('--json')) process.stderr.write(`  ${x.name}: done\n`);
    }
  };
  const section = (title: string) => results.push({ name: `[${title}]`, median: 0, min: 0, max: 0, unit: '', rounds: 0 });
  if (group('models')) {
    section('models');
    step(benchMpcTranslate());
    step(benchNested());
    step(benchMpcReplay());
    step(benchTable());
  }
  if (group('smmuv3')) {
    section('smmuv3');
    step(benchSmmuv3(ROUNDS));
    step(benchReplay(1_000_000, Math.min(ROUNDS, 3), '< 0.3 s'));
  }
  if (group('shadows')) {
    section('shadows');
    step(benchVfio(Math.min(100_000, SCALE_MAX), Math.min(ROUNDS, 3), '< 1 s'));
    step(benchVhostFill(Math.min(50_000, SCALE_MAX), Math.min(ROUNDS, 3), '< 0.3 s'));
    step(benchShadowCheck(Math.min(100_000, SCALE_MAX), Math.min(ROUNDS, 3), '< 0.2 s'));
  }
  if (group('intel-iommu')) {
    section('intel-iommu');
    step(benchIntelIommu(ROUNDS));
  }
  if (group('scaling')) {
    section('scaling (time per item; linear stays near 1.00x)');
    step(scaling('walk replay', [10_000, 100_000, 1_000_000], (n) => benchReplay(n, 3)));
    step(scaling('vfio register + replay', [10_000, 100_000, 1_000_000], (n) => benchVfio(n, 3)));
    step(scaling('vhost IOTLB fill', [10_000, 100_000], (n) => benchVhostFill(n, 3)));
    step(scaling('shadow check (SMMUv3, vhost)', [10_000, 100_000], (n) => benchShadowCheck(n, 3)));
  }
  if (group('load')) {
    section('load');
    step(benchLoad());
  }
  if (group('config')) {
    section('config load (10k regions + 10k mappings; 1k/10k/50k scaling) and CLI start-up');
    step(benchConfig(ROUNDS, quick));
  }
  // Memory images report medians only (their own rounds).
  if (group('images')) {
    section('images');
    step(
      benchImages().map((r) => ({
        name: r.name,
        median: r.value,
        min: r.value,
        max: r.value,
        unit: r.unit,
        rounds: 7,
        goal: /open/i.test(r.name) ? '< 50 ms' : undefined,
        clock: 'wall' as const,
      })),
    );
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(results.filter((r) => r.rounds > 0), null, 2));
  else {
    console.log(`\nIOMMU Lens benchmarks (node ${process.version}, ${quick ? 'quick' : `${ROUNDS} rounds`}; ${CLOCK})\n`);
    console.log(format(results));
  }
}

main();

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any, no-control-regex --
   These tests read the CLI's --json output: parsed JSON whose shape is what they check, so they
   walk it untyped (`any`); and they look for the terminal's escape character (\x1b) in its text. */
/**
 * The CLI, run in-process on whole command lines: golden text for the examples (under
 * test/unit/golden, one transcript per command line: stdout, then stderr, then the exit status),
 * JSON shapes, exit statuses, colour, and one run of the built executable.
 *
 * UPDATE_GOLDEN=1 rewrites the golden files; read the diff before committing it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { schemaJson } from '../../src/config/schema';
import type { CliIO } from '../../src/cli/commands';
import { runCli } from '../../src/cli/program';

// out/test/unit -> the repository root.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const GOLDEN = path.join(ROOT, 'test', 'unit', 'golden');
const AN505 = 'examples/an505.iommu.yaml';
const DUAL = 'examples/dual-regime.iommu.yaml';
const VIRT = 'examples/virt-smmuv3.iommu.yaml';
const Q35 = 'examples/q35-intel-iommu.iommu.yaml';
const Q35_NO_CM = 'examples/q35-intel-iommu-no-cm.iommu.yaml';
const Q35_FLTS = 'examples/q35-intel-iommu-flts.iommu.yaml';
const VIOMMU = 'examples/virtio-iommu.iommu.yaml';
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Run {
  readonly out: string[];
  readonly err: string[];
  readonly code: number;
}

/** Files only the test has; anything else is read from the repository (relative to its root). */
type Virtual = Readonly<Record<string, string>>;

function cli(args: readonly string[], opts: { virtual?: Virtual; color?: boolean } = {}): Run {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readFile: (p) => opts.virtual?.[p] ?? fs.readFileSync(path.isAbsolute(p) ? p : path.join(ROOT, p), 'utf8'),
    color: opts.color,
    colorErr: opts.color,
  };
  const example = { file: AN505, text: fs.readFileSync(path.join(ROOT, AN505), 'utf8') };
  const code = runCli(args, io, { example, version: '0.0.0-test' });
  return { out, err, code };
}

function transcript(args: readonly string[], r: Run): string {
  let t = `$ iommu-lens ${args.join(' ')}\n`;
  if (r.out.length) t += r.out.join('\n') + '\n';
  if (r.err.length) t += `--- stderr ---\n${r.err.join('\n')}\n`;
  return t + `--- exit ${r.code} ---\n`;
}

function golden(name: string, args: readonly string[], expectedCode: number, virtual?: Virtual): Run {
  const r = cli(args, { virtual });
  const text = transcript(args, r);
  const file = path.join(GOLDEN, `${name}.txt`);
  if (UPDATE) {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, text);
  } else {
    assert.ok(fs.existsSync(file), `${file} is missing; run the tests with UPDATE_GOLDEN=1 to write it`);
    assert.equal(text, fs.readFileSync(file, 'utf8'), `${name}.txt differs (UPDATE_GOLDEN=1 rewrites it; review the diff)`);
  }
  assert.equal(r.code, expectedCode, `exit status of ${args.join(' ')}`);
  return r;
}

function json(r: Run): Record<string, unknown> {
  assert.equal(r.out.length, 1, 'one JSON document on stdout');
  return JSON.parse(r.out[0]!) as Record<string, unknown>;
}

const HEX = /^0x[0-9a-f]+$/;
const ANSI_ESC = /\x1b\[/;
/** CI reads a line of this form as a test result, so the CLI must never print one. */
const RESULT_LINE = /^\s*\d+ passed, \d+ failed\s*$/m;

/** A small config with errors (an unknown target, an unknown address space) and a failing expectation. */
const BROKEN = `iommu-lens: 1
name: broken on purpose
memory:
  ram0: { kind: ram, size: 64KiB }
iommus:
  remap0:
    model: table
    size: 64KiB
    page-size: 4KiB
    indexes:
      - name: only
        mappings:
          - { iova: 0x0, size: 4KiB, target: nowhere, addr: 0x0, perm: rw }
          - { iova: 0x1000, size: 4KiB, target: system, addr: 0x0, perm: rw }
address-spaces:
  system:
    - { at: 0x0, region: ram0 }
devices:
  dev0: { iommu: remap0 }
  dev1: { as: nosuch }
scenario:
  - expect: { from: dev0, addr: 0x1000, reaches: { region: ram0, offset: 0x10 } }
  - expect: { from: dev0, addr: 0x0, faults: true }
`;

/** Valid, with a scenario whose second expectation fails. */
const FAILING = `iommu-lens: 1
memory:
  ram0: { kind: ram, size: 64KiB }
address-spaces:
  system:
    - { at: 0x1000, region: ram0 }
devices:
  cpu: { as: system }
scenario:
  - expect: { from: cpu, addr: 0x1000, reaches: { region: ram0, offset: 0x0 } }
  - expect: { from: cpu, addr: 0x0, reaches: { region: ram0 } }
`;

describe('cli', () => {
  describe('golden text on the examples', () => {
    it('check: both examples, warnings only', () => {
      const r = golden('check-examples', ['check', AN505, DUAL], 0);
      assert.match(r.err.at(-1)!, /^2 files: 0 errors, 5 warnings$/);
    });
    it('tree an505', () => golden('tree-an505', ['tree', AN505], 0));
    it('tree dual-regime', () => golden('tree-dual-regime', ['tree', DUAL], 0));
    it('tree with --max-runs says how many more', () => {
      const r = golden('tree-an505-max-runs-2', ['tree', AN505, '--max-runs', '2'], 0);
      assert.ok(r.out.some((l) => l.includes('… 1 more run (--max-runs 3 shows them)')));
    });
    it('translate --steps: the MPC passes a non-secure access to a non-secure block', () =>
      golden('translate-an505-cpu-ns-0x8000', ['translate', AN505, '--from', 'cpu-ns', '--addr', '0x8000', '--steps'], 0));
    it('translate --steps: the MPC blocks a secure access to a non-secure block', () =>
      golden('translate-an505-cpu-s-0x8000', ['translate', AN505, '--from', 'cpu-s', '--addr', '0x8000', '--steps'], 0));
    it('translate --steps: a write to a read-only mapping faults (exit 0: a fault is an answer)', () =>
      golden('translate-dual-regime-nic-k-write-fault', ['translate', DUAL, '--from', 'nic-k', '--addr', '0x10_0000', '--op', 'write', '--steps'], 0));
    it('translate --attrs user selects the user index', () =>
      golden('translate-dual-regime-nic-k-attrs-user', ['translate', DUAL, '--from', 'nic-k', '--addr', '0x1234', '--attrs', 'user'], 0));
    it('notifiers an505', () => golden('notifiers-an505', ['notifiers', AN505], 0));
    it('notifiers dual-regime', () => golden('notifiers-dual-regime', ['notifiers', DUAL], 0));
    it('replay: the default limit of 64 events and a count of the rest', () => {
      const r = golden('replay-an505-passthru0', ['replay', AN505, '--notifier', 'passthru0/vfio'], 0);
      assert.ok(r.out.includes('… 4032 more events (--limit 4096 shows all)'));
    });
    it('replay dual-regime user-watch', () => golden('replay-dual-regime-user-watch', ['replay', DUAL, '--notifier', 'user-watch'], 0));
    it('run an505', () => golden('run-an505', ['run', AN505], 0));
    it('run dual-regime', () => golden('run-dual-regime', ['run', DUAL], 0));
    it('run virt-smmuv3 --check-shadows: the stale vhost IOTLB, exit 1', () =>
      golden('run-virt-smmuv3-check-shadows', ['run', VIRT, '--check-shadows'], 1));
    it('translate virt-smmuv3: a stage-1 walk, descriptor by descriptor', () =>
      golden('translate-virt-smmuv3-net0', ['translate', VIRT, '--from', 'net0', '--addr', '0x2000_0000', '--steps'], 0));
    it('notifiers virt-smmuv3: vfio refused with QEMU\'s text, vhost accepted', () => golden('notifiers-virt-smmuv3', ['notifiers', VIRT], 0));
    it('run q35-intel-iommu --check-shadows: the stale vfio mapping after an unmap without invalidation, exit 1', () =>
      golden('run-q35-intel-iommu-check-shadows', ['run', Q35, '--check-shadows'], 1));
    it('translate q35-intel-iommu: root entry, context entry and each level', () =>
      golden('translate-q35-intel-iommu-nic0', ['translate', Q35, '--from', 'nic0', '--addr', '0x1000_0000', '--steps'], 0));
    it('notifiers q35-intel-iommu-no-cm: vfio refused for want of caching mode', () => golden('notifiers-q35-intel-iommu-no-cm', ['notifiers', Q35_NO_CM], 0));
    it('translate q35-intel-iommu-flts: PASID directory and table entries, then the first-stage levels, the A/D updates a probe does not write', () =>
      golden('translate-q35-intel-iommu-flts-pasid1', ['translate', Q35_FLTS, '--from', 'edu0-pasid1', '--addr', '0x4000_0000', '--steps'], 0));
    it('run q35-intel-iommu-flts: A and D set in guest memory by DMA, a supervisor page refused to a user request (0x81)', () => golden('run-q35-intel-iommu-flts', ['run', Q35_FLTS], 0));
    it('run virtio-iommu --check-shadows: request statuses, chunked MAP/UNMAP, the re-attach\'s EEXIST, no stale shadow', () =>
      golden('run-virtio-iommu-check-shadows', ['run', VIOMMU, '--check-shadows'], 0));
    it('tree virtio-iommu: endpoints bypassed at boot, the model state', () => golden('tree-virtio-iommu', ['tree', VIOMMU], 0));
    it('check on a broken config: gcc-style errors, exit 1', () => golden('check-broken', ['check', 'broken.iommu.yaml'], 1, { 'broken.iommu.yaml': BROKEN }));
    it('run on a broken config: errors on stderr first, the failed expectation marked, exit 1', () =>
      golden('run-broken', ['run', 'broken.iommu.yaml'], 1, { 'broken.iommu.yaml': BROKEN }));
    it('tree on a broken config: errors on stderr, the valid part on stdout, exit 0', () =>
      golden('tree-broken', ['tree', 'broken.iommu.yaml'], 0, { 'broken.iommu.yaml': BROKEN }));
  });

  describe('--json', () => {
    it('check', () => {
      const j = json(cli(['check', '--json', AN505, DUAL]));
      assert.equal(j.errors, 0);
      assert.equal(j.warnings, 5);
      const files = j.files as Array<Record<string, unknown>>;
      assert.deepEqual(
        files.map((f) => f.file),
        [AN505, DUAL],
      );
      const d = (files[0]!.diagnostics as Array<Record<string, unknown>>)[0]!;
      assert.deepEqual(Object.keys(d).sort(), ['code', 'column', 'endColumn', 'endLine', 'file', 'line', 'message', 'severity']);
    });
    it('tree: regions > indexes > mappings and notifiers, 64-bit values as hex strings', () => {
      const j = json(cli(['tree', AN505, '--json']));
      assert.deepEqual(Object.keys(j), ['file', 'name', 'regions', 'addressSpaces', 'devices']);
      const regions = j.regions as Array<Record<string, any>>;
      assert.deepEqual(
        regions.map((r) => r.name),
        ['mpc0', 'mpc1', 'mpc2'],
      );
      assert.equal(regions[0]!.size, '0x400000');
      const ix = regions[0]!.indexes[1];
      assert.equal(ix.name, 'NS');
      assert.deepEqual(ix.mappings.runs[1], { iova: '0x8000', size: '0x8000', target: 'mpc0-downstream', translated: '0x8000', perm: 'rw' });
      assert.equal(ix.notifiers[0].name, 'tcg-mpc0-ns');
      assert.equal(ix.notifiers[0].end, '0xffffffffffffffff');
    });
    it('translate: landing, entry, hops and (with --steps) the steps with their sources', () => {
      const j = json(cli(['translate', AN505, '--from', 'cpu-ns', '--addr', '0x8000', '--steps', '--json'])) as Record<string, any>;
      assert.equal(j.ok, true);
      assert.deepEqual(j.landing, { region: 'ssram-0', kind: 'ram', offset: '0x8000', as: 'mpc0-downstream', addr: '0x8000' });
      assert.equal(j.entry.addrMask, '0x3ff');
      assert.equal(j.hops[0].indexName, 'NS');
      assert.ok(j.steps.length > 3);
      assert.deepEqual(j.steps[0].source, { kind: 'config', file: AN505, line: 33, column: 7 });
      const noSteps = json(cli(['translate', AN505, '--from', 'cpu-ns', '--addr', '0x8000', '--json']));
      assert.equal(noSteps.steps, undefined);
    });
    it('notifiers', () => {
      const j = json(cli(['notifiers', DUAL, '--json'])) as Record<string, any>;
      const refused = j.notifiers.find((n: any) => n.name === 'net0/vhost');
      assert.equal(refused.status, 'refused');
      assert.match(refused.reason, /device IOTLB invalidation is not modelled/);
      assert.ok(HEX.test(refused.end));
    });
    it('replay: the first --limit events, the count of the rest', () => {
      const j = json(cli(['replay', AN505, '--notifier', 'passthru0/vfio', '--limit', '3', '--json'])) as Record<string, any>;
      assert.equal(j.total, 4096);
      assert.equal(j.events.length, 3);
      assert.equal(j.more, 4093);
      assert.equal(j.events[2].iova, '0x800');
      assert.equal(j.errors.reduce((n: number, e: any) => n + e.count, 0), 4096);
    });
    it('run', () => {
      const j = json(cli(['run', DUAL, '--json'])) as Record<string, any>;
      assert.equal(j.total, 9);
      assert.equal(j.failed, 0);
      assert.deepEqual(Object.keys(j.steps[5]).sort(), ['divergences', 'failures', 'kind', 'n', 'notifications', 'ok', 'outcome', 'source', 'summary']);
    });
    it("run: every step's outcome as fields (landing, result, pieces, events, notifications, shadow findings)", () => {
      const j = json(cli(['run', VIRT, '--check-shadows', '--json'])) as Record<string, any>;
      const access = j.steps[2].outcome;
      assert.equal(access.result, 'MEMTX_OK');
      assert.deepEqual(access.landing, { region: 'ram', kind: 'ram', offset: '0x300000', as: 'system', addr: '0x40300000' });
      assert.deepEqual(access.pieces, [{ addr: '0x20000000', size: 8, result: 'MEMTX_OK', value: '0x0', region: 'ram', offset: '0x300000' }]);
      assert.deepEqual(access.events, []);
      const tlbi = j.steps[7].outcome;
      assert.deepEqual(tlbi.notifications, [
        { notifier: 'net0/vhost', owner: 'net0', region: 'smmu0.sid-0x20', index: 0, type: 'UNMAP', iova: '0x20000000', mask: '0xfff', translated: '0x0', perm: 'NONE', target: 'system', outcome: 'delivered' },
      ]);
      const stale = j.steps.flatMap((s: any) => s.outcome.divergences);
      assert.equal(stale.length, 1);
      assert.equal(stale[0].notifier, 'net0/vhost');
      assert.equal(stale[0].causeStep, 5);
      // A fault expectation is a peek: no value, no event.
      assert.equal(j.steps[1].outcome.result, 'MEMTX_DECODE_ERROR');
      assert.equal(j.steps[1].outcome.value, undefined);
      assert.deepEqual(j.steps[1].outcome.events, []);
    });
    it('translate: the event an access would record (a translate records none), and the pieces of a sized access', () => {
      const j = json(cli(['translate', VIRT, '--from', 'edu0', '--addr', '0x1000_fffc', '--size', '8', '--json'])) as Record<string, any>;
      assert.equal(j.ok, true);
      assert.equal(j.event, undefined);
      assert.deepEqual(
        j.pieces.map((p: any) => [p.addr, p.size, p.result, p.landing?.offset ?? null]),
        [
          ['0x1000fffc', 4, 'MEMTX_OK', '0x20fffc'],
          ['0x10010000', 4, 'MEMTX_DECODE_ERROR', null],
        ],
      );
      const f = json(cli(['translate', VIRT, '--from', 'edu0', '--addr', '0x1001_0000', '--op', 'write', '--json'])) as Record<string, any>;
      assert.deepEqual(f.event, {
        iommu: 'smmu0',
        type: 'F_TRANSLATION',
        code: 16,
        wouldRecord: true,
        disposition: 'would be recorded (EVENTQ); a peek records nothing',
        fields: { sid: 16, inputAddr: '0x10010000', addr2: '0x0', rnw: false, s2: false, class: 'IN' },
      });
      // Nothing was recorded: the event queue is as it was.
      const again = json(cli(['run', VIRT, '--json'])) as Record<string, any>;
      assert.equal(again.failed, 0);
    });
    it('translate --batch: one JSON answer per JSON query line, on one loaded machine; bad lines answer with their error', () => {
      const queries = ['{"from":"edu0","addr":"0x1000_0010"}', '', '{"from":"edu0","addr":268500992,"size":8,"op":"write"}', '{"from":"nobody","addr":1}', 'not json', '{"from":"edu0"}', '{"from":"edu0","addr":1,"size":0}'].join('\n');
      const r = cli(['translate', VIRT, '--batch', 'q.jsonl'], { virtual: { 'q.jsonl': queries } });
      assert.equal(r.code, 1);
      const lines = r.out.map((l) => JSON.parse(l) as Record<string, any>);
      assert.equal(lines.length, 6);
      assert.equal(lines[0]!.landing.offset, '0x200010');
      assert.equal(lines[1]!.addr, '0x10010000');
      assert.equal(lines[1]!.event.type, 'F_TRANSLATION');
      assert.equal(lines[1]!.pieces.length, 1);
      assert.deepEqual(lines[2], { line: 4, error: 'no device or address space named "nobody" (have: cpu, edu0, nic0, net0, system)' });
      assert.equal(lines[3]!.line, 5);
      assert.match(lines[3]!.error, /^not JSON/);
      assert.deepEqual(lines[4], { line: 6, error: 'a query needs "from" (a name) and "addr"' });
      assert.deepEqual(lines[5], { line: 7, error: '"size" is a whole number from 1 to 16777216' });
      const ok = cli(['translate', VIRT, '--batch', 'q.jsonl'], { virtual: { 'q.jsonl': '{"from":"cpu","addr":"0x4000_0000"}\n' } });
      assert.equal(ok.code, 0);
      assert.equal(cli(['translate', VIRT]).code, 2);
    });
    it('demo: the four parts as one object', () => {
      const r = cli(['demo', '--json']);
      assert.equal(r.code, 0);
      const j = json(r) as Record<string, any>;
      assert.deepEqual(Object.keys(j), ['example', 'tree', 'translate', 'notifiers', 'run']);
      assert.equal(j.translate.length, 2);
      assert.equal(j.translate[1].landing.region, 'mpc0-blocked-io');
      assert.equal(j.run.failed, 0);
    });
    it('schema prints schemaJson(), with or without --json', () => {
      for (const args of [['schema'], ['schema', '--json']]) {
        const r = cli(args);
        assert.equal(r.code, 0);
        assert.equal(r.out.join('\n') + '\n', schemaJson());
        assert.equal((JSON.parse(r.out.join('\n')) as { title: string }).title, 'IOMMU Lens device config');
      }
    });
  });

  describe('exit statuses and error lines', () => {
    const oneLine = (r: Run, re: RegExp) => {
      assert.equal(r.out.length, 0, 'nothing on stdout');
      assert.equal(r.err.length, 1, `one line on stderr, got:\n${r.err.join('\n')}`);
      assert.match(r.err[0]!, re);
    };
    it('a missing file: exit 2, one line', () => {
      const r = cli(['tree', 'examples/nope.iommu.yaml']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: cannot read examples\/nope\.iommu\.yaml: no such file$/);
    });
    it('a directory: exit 2, one line', () => {
      const r = cli(['notifiers', 'examples']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: cannot read examples: it is a directory$/);
    });
    it('check goes on past an unreadable file, then exits 2', () => {
      const r = cli(['check', 'examples/nope.iommu.yaml', AN505]);
      assert.equal(r.code, 2);
      assert.equal(r.out.length, 2);
      assert.deepEqual(r.err, ['iommu-lens: cannot read examples/nope.iommu.yaml: no such file', '1 file: 0 errors, 2 warnings']);
    });
    it('a bad address: exit 2, one line', () => {
      const r = cli(['translate', AN505, '--from', 'cpu-s', '--addr', 'zork']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: bad address "zork": /);
    });
    it('an address past 64 bits: exit 2', () => {
      const r = cli(['translate', AN505, '--from', 'cpu-s', '--addr', '0x1_0000_0000_0000_0000']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: bad address/);
    });
    it('bad attributes: exit 2, one line', () => {
      const r = cli(['translate', AN505, '--from', 'cpu-s', '--addr', '0x0', '--attrs', 'secure,sparkly']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: bad attributes "secure,sparkly": unknown attribute "sparkly"/);
    });
    it('an unknown device: exit 2, one line naming those there are', () => {
      const r = cli(['translate', AN505, '--from', 'gpu9', '--addr', '0x0']);
      assert.equal(r.code, 2);
      oneLine(r, /^iommu-lens: no device or address space named "gpu9" \(have: cpu-s, cpu-ns, dma0, passthru0, system, dma-window\)$/);
    });
    it('an address space works as --from', () => {
      const r = cli(['translate', AN505, '--from', 'system', '--addr', '0x402400']);
      assert.equal(r.code, 0);
      assert.match(r.out[0]!, /^system read 0x40_2400, attrs unspecified$/);
      assert.match(r.out[1]!, /lands\s+ssram-0 \+ 0x2400/);
    });
    it('an unknown notifier: exit 2; a refused one has nothing to replay: exit 1', () => {
      const unknown = cli(['replay', DUAL, '--notifier', 'nope']);
      assert.equal(unknown.code, 2);
      oneLine(unknown, /^iommu-lens: no notifier named "nope" \(have: /);
      const refused = cli(['replay', DUAL, '--notifier', 'net0/vhost']);
      assert.equal(refused.code, 1);
      oneLine(refused, /^iommu-lens: net0\/vhost is not registered \(refused: /);
    });
    it('bad usage: exit 2 with commander\'s message as an iommu-lens line', () => {
      for (const args of [['translate', AN505, '--from', 'cpu-s'], ['translate', AN505, '--from', 'cpu-s', '--addr', '0', '--op', 'exec'], ['bogus'], ['tree', AN505, '--max-runs', '0'], ['tree', AN505, '--qemu', '4.0'], []]) {
        const r = cli(args);
        assert.equal(r.code, 2, args.join(' '));
        assert.equal(r.out.length, 0);
        if (args.length) assert.match(r.err[0]!, /^iommu-lens: /, args.join(' '));
      }
    });
    it('--help on the program and on every command: exit 0, help on stdout', () => {
      const top = cli(['--help']);
      assert.equal(top.code, 0);
      assert.match(top.out.join('\n'), /A config with errors: every command but check prints the errors on stderr/);
      for (const c of ['check', 'tree', 'translate', 'notifiers', 'replay', 'run', 'demo', 'schema']) {
        const r = cli([c, '--help']);
        assert.equal(r.code, 0, c);
        assert.match(r.out[0]!, new RegExp(`^Usage: iommu-lens ${c} `), c);
        assert.ok(r.out.some((l) => l.includes('--json')), `${c} has --json`);
        assert.ok(r.out.some((l) => l.includes('--qemu')), `${c} has --qemu`);
      }
    });
    it('--qemu is accepted by every command that reads a config', () => {
      for (const args of [['check', DUAL], ['tree', DUAL], ['notifiers', DUAL], ['run', DUAL], ['translate', DUAL, '--from', 'nic-k', '--addr', '0']]) {
        assert.equal(cli([...args, '--qemu', '5.2-9.x']).code, 0, args.join(' '));
      }
    });

    describe('on files in a temporary directory', () => {
      let dir: string;
      before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-cli-'));
        fs.writeFileSync(path.join(dir, 'broken.iommu.yaml'), BROKEN);
        fs.writeFileSync(path.join(dir, 'failing.iommu.yaml'), FAILING);
      });
      after(() => fs.rmSync(dir, { recursive: true, force: true }));

      it('check: errors give exit 1, one gcc-style line each and the summary', () => {
        const file = path.join(dir, 'broken.iommu.yaml');
        const r = cli(['check', file]);
        assert.equal(r.code, 1);
        assert.equal(r.out.length, 2);
        for (const l of r.out) assert.ok(l.startsWith(`${file}:`) && / error: .* \[[a-z-]+\]$/.test(l), l);
        assert.deepEqual(r.err, ['1 file: 2 errors, 0 warnings']);
      });
      it('check: a clean file gives exit 0 and no lines but the summary', () => {
        const r = cli(['check', path.join(dir, 'failing.iommu.yaml')]);
        assert.equal(r.code, 0);
        assert.deepEqual(r.out, []);
        assert.deepEqual(r.err, ['1 file: 0 errors, 0 warnings']);
      });
      it('run: a failed expectation gives exit 1 and is marked', () => {
        const r = cli(['run', path.join(dir, 'failing.iommu.yaml')]);
        assert.equal(r.code, 1);
        const text = r.out.join('\n');
        assert.match(text, /✗ expect cpu read 0x0 -> fault .*: FAILED/);
        assert.match(text, /✗ expected to reach ram0, reached fault/);
        assert.equal(r.out.at(-1), 'scenario: 2 steps, 1 failed');
        assert.doesNotMatch(text, RESULT_LINE);
      });
      it('translate on a config with errors: errors on stderr, the answer on stdout, exit 0', () => {
        const r = cli(['translate', path.join(dir, 'broken.iommu.yaml'), '--from', 'dev0', '--addr', '0x1000']);
        assert.equal(r.code, 0);
        assert.equal(r.err.length, 3);
        assert.match(r.err[2]!, /has 2 errors; what follows is for the part of the config that is valid$/);
        assert.match(r.out[1]!, /lands\s+ram0 \+ 0x0/);
      });
    });
  });

  describe('presentation', () => {
    it('no colour unless asked; with colour, escapes appear', () => {
      const plain = cli(['run', AN505]);
      assert.doesNotMatch(plain.out.join('\n'), ANSI_ESC);
      const coloured = cli(['run', AN505], { color: true });
      assert.match(coloured.out.join('\n'), ANSI_ESC);
      // Colour changes nothing but the escapes.
      assert.deepEqual(
        coloured.out.map((l) => l.replace(/\x1b\[[0-9;]*m/g, '')),
        plain.out,
      );
    });
    it('run never prints a line of the form CI reads as a test result', () => {
      for (const f of [AN505, DUAL]) assert.doesNotMatch(cli(['run', f]).out.join('\n'), RESULT_LINE);
      assert.doesNotMatch(cli(['demo']).out.join('\n'), RESULT_LINE);
    });
    it('demo: the four parts under their headings, exit 0', () => {
      const r = cli(['demo']);
      assert.equal(r.code, 0);
      assert.deepEqual(r.err, []);
      const headings = r.out.filter((l) => l.startsWith('=== '));
      assert.deepEqual(headings, [
        `=== iommu-lens tree ${AN505} ===`,
        `=== iommu-lens translate ${AN505} --from cpu-ns --addr 0x8000 --steps ===`,
        `=== iommu-lens translate ${AN505} --from cpu-s --addr 0x8000 --steps ===`,
        `=== iommu-lens notifiers ${AN505} ===`,
        `=== iommu-lens run ${AN505} ===`,
      ]);
      // Each part is what its command prints.
      const tree = cli(['tree', AN505]).out;
      const start = r.out.indexOf(headings[0]!) + 2;
      assert.deepEqual(r.out.slice(start, start + tree.length), tree);
      assert.equal(r.out.at(-1), 'scenario: 15 steps, 0 failed');
    });
  });

  describe('the built executable', () => {
    const bin = path.join(ROOT, 'bin', 'iommu-lens.js');
    before(function () {
      if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) this.skip();
    });
    it('node bin/iommu-lens.js demo runs the embedded example (no colour into a pipe)', () => {
      const env = { ...process.env };
      delete env.NO_COLOR;
      const r = spawnSync(process.execPath, [bin, 'demo'], { cwd: os.tmpdir(), encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^IOMMU Lens demo on its embedded example, examples\/an505\.iommu\.yaml/);
      assert.match(r.stdout, /=== iommu-lens run examples\/an505\.iommu\.yaml ===/);
      assert.match(r.stdout, /\nscenario: 15 steps, 0 failed\n$/);
      assert.doesNotMatch(r.stdout, ANSI_ESC);
      assert.equal(r.stderr, '');
    });
    it('a missing file exits 2 with one line on stderr', () => {
      const r = spawnSync(process.execPath, [bin, 'tree', 'no/such.iommu.yaml'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'iommu-lens: cannot read no/such.iommu.yaml: no such file\n');
    });
    it('--version prints the package version', () => {
      const r = spawnSync(process.execPath, [bin, '--version'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.equal(r.stdout.trim(), (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    });
  });
});

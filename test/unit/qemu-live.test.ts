/**
 * Against Debian's QEMU 7.2 (qemu-system-aarch64 -M virt,iommu=smmuv3 -device edu, started here
 * stopped with -S): the QMP and gdbstub clients, attach (memory map, devices, SMMU registers,
 * translations over tables QEMU holds), the CLI's attach and snapshot, snapshot + reload giving
 * the live answers; and bad peers: a socket that is not QEMU, QEMU exiting mid-session, a gdbstub
 * refusing physical-memory mode, an mtree the parser has not seen.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runLiveCli } from '../../src/cli/live';
import { parseMtreeFlat, viewOf } from '../../src/config/mtree';
import { IOMMU_RO, IOMMU_RW, MemTxResult, regionKindName } from '../../src/engine';
import { GdbClient, GdbRefusal, rspFrame } from '../../src/node/qemu/gdb';
import { LiveQemu } from '../../src/node/qemu/live';
import { QmpClient, QmpCommandError } from '../../src/node/qemu/qmp';
import { QemuProcess } from '../qemu/qemu-process';
import { QtestClient } from '../qemu/qtest';
import { RAM_BASE, enableEdu, programSmmu } from '../qemu/smmu-setup';
import { ep, EDU, capture, answer, readWriteRead, snapshotBesideLive } from '../qemu/live-helpers';


/** virt.flash0's first words (-bios): a branch to itself (where the CPU starts, if it runs), then a pattern. */
const FLASH = new Uint8Array(new Uint32Array([0x1400_0000, 0x1bad_b002, 0x0123_4567, 0x89ab_cdef]).buffer);

describe('live QEMU (qemu-system-aarch64 -M virt,iommu=smmuv3)', function () {
  this.timeout(60000);
  let q: QemuProcess;
  let qt: QtestClient;
  let cr0 = 0n;
  let strtab = 0n;

  before(async () => {
    q = await QemuProcess.start({ qtest: true, bios: FLASH });
    qt = await QtestClient.connect(q.qtestPath!);
    await enableEdu(qt);
    const built = await programSmmu(qt, {
      tablesAt: RAM_BASE + 0x100_0000n,
      tablesSize: 0x10_0000n,
      streams: [
        [0x08, { stage1: { granule: 4096, t0sz: 16, asid: 1, map: [
          { iova: 0x1000_0000n, size: 0x1_0000n, pa: RAM_BASE + 0x20_0000n, perm: IOMMU_RW },
          { iova: 0x2000_0000n, size: 0x1000n, pa: RAM_BASE + 0x30_0000n, perm: IOMMU_RO },
        ] } }],
      ],
    });
    cr0 = built.cr0;
    strtab = built.strtabBase;
  });
  after(async () => {
    qt?.close();
    await q?.stop();
  });

  describe('QMP client', () => {
    it('greets, runs commands with ids, human-monitor commands, and reports QEMU errors', async () => {
      const qmp = await QmpClient.connect(ep(q.qmpPath));
      try {
        assert.equal(qmp.greeting?.version.qemu.major, 7);
        assert.equal(qmp.greeting?.version.qemu.minor, 2);
        const st = (await qmp.execute('query-status')) as { status: string };
        assert.equal(st.status, 'prelaunch');
        assert.match(await qmp.hmp('info status'), /VM status: paused \(prelaunch\)/);
        await assert.rejects(qmp.execute('no-such-command'), (e: unknown) => e instanceof QmpCommandError && e.errorClass === 'CommandNotFound');
        // Events: cont and stop report RESUME and STOP.
        const n = qmp.events.length;
        await qmp.execute('cont');
        await qmp.waitEvent('RESUME', 5000, n);
        await qmp.execute('stop');
        assert.equal((await qmp.waitEvent('STOP', 5000, n)).event, 'STOP');
      } finally {
        qmp.close();
      }
    });
  });

  describe('gdbstub client', () => {
    it('switches to physical addresses, reads and writes in pieces, runs monitor commands, restores the mode', async () => {
      const gdb = await GdbClient.connect(ep(q.gdbAddress));
      try {
        assert.ok((await gdb.qemuFeatures()).includes('PhyMemMode'));
        assert.equal(await gdb.physicalMode(), false);
        await gdb.enterPhysicalMode();
        assert.equal(await gdb.physicalMode(), true);
        const pattern = new Uint8Array(6000).map((_, i) => (i * 7 + 3) & 0xff);
        await qt.memwrite(RAM_BASE + 0x40_0800n, pattern);
        const before = gdb.packets;
        assert.deepEqual(await gdb.read(RAM_BASE + 0x40_0800n, 6000), pattern);
        // 0x800 bytes to the page end, then 2048 + 2048 and 1904 bytes: 3 packets, none across a page.
        assert.equal(gdb.packets - before, 3);
        await gdb.write(RAM_BASE + 0x40_3000n, pattern.subarray(0, 3000));
        assert.deepEqual(await qt.memread(RAM_BASE + 0x40_3000n, 3000), pattern.subarray(0, 3000));
        // SMMU registers through MMIO: CR0 as programmed.
        const r = await gdb.read(0x0905_0020n, 4);
        assert.equal(BigInt(new DataView(r.buffer).getUint32(0, true)), cr0);
        assert.match(await gdb.monitor('info status'), /VM status/);
      } finally {
        await gdb.close();
      }
      const again = await GdbClient.connect(ep(q.gdbAddress));
      try {
        assert.equal(await again.physicalMode(), false, 'the memory mode found (virtual) is restored');
      } finally {
        await again.close();
      }
    });
  });

  describe('attach', () => {
    it('sees the memory map, the devices and the SMMU registers, and translates over the live tables', async () => {
      const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
      try {
        const s = live.state;
        const ram = viewOf(s.mtree, 'memory')!.ranges.find((r) => r.name === 'mach-virt.ram');
        assert.equal(ram?.start, RAM_BASE);
        assert.ok(s.pci.some((d) => d.vendor === 0x1234 && d.device === 0x11e8 && d.slot === 1));
        assert.equal(s.iommus.length, 1);
        assert.equal(s.iommus[0]!.found.base, 0x0905_0000n);
        assert.equal(s.iommus[0]!.registers.get('CR0'), cr0);
        assert.equal((s.iommus[0]!.registers.get('STRTAB_BASE_HI')! << 32n) | s.iommus[0]!.registers.get('STRTAB_BASE_LO')!, strtab);
        const answers = await live.query((cfg) => {
          assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
          return [
            answer(cfg, 0x1000_0010n, 'read'),
            answer(cfg, 0x1000_fff8n, 'write'),
            answer(cfg, 0x1001_0000n, 'read'),
            answer(cfg, 0x2000_0008n, 'read'),
            answer(cfg, 0x2000_0008n, 'write'),
          ];
        });
        assert.deepEqual(answers, ['mach-virt.ram+0x200010', 'mach-virt.ram+0x20fff8', 'fault permission', 'mach-virt.ram+0x300008', 'fault permission']);
        assert.ok(live.cache.fetched > 0 && live.cache.fetched < 16, `pages read: ${live.cache.fetched}`);
      } finally {
        await live.detach();
      }
    });

    it('runs CLI commands on the live config: attach translate, attach tree', async () => {
      const c = capture();
      const code = await runLiveCli(['attach', '--qmp', q.qmpPath, '--gdb', q.gdbAddress, 'translate', '--from', EDU, '--addr', '0x1000_0010', '--json'], c.io);
      assert.equal(code, 0, c.err.join('\n'));
      const j = JSON.parse(c.out.join('\n')) as { landing?: { region?: string; offset?: string } } & Record<string, unknown>;
      assert.match(JSON.stringify(j), /mach-virt\.ram/);
      assert.match(JSON.stringify(j), /0x200010/);
      const t = capture();
      assert.equal(await runLiveCli(['attach', '--qmp', q.qmpPath, '--gdb', q.gdbAddress, 'tree'], t.io), 0, t.err.join('\n'));
      assert.match(t.out.join('\n'), /smmu0/);
      assert.match(t.out.join('\n'), /0x1000_0000/);
    });

    it("reads virt's flash (a ROM device in ROMD mode) as QEMU reads it; a write is taken and changes nothing here", async () => {
      const want = await qt.readl(0x4n);
      assert.equal(want, 0x1bad_b002n);
      const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
      try {
        const got = await readWriteRead(live, 0x4n);
        assert.match(got.region, /^virt\.flash0/);
        assert.equal(got.kind, 'romd');
        assert.equal(got.value, want);
        assert.equal(got.write, MemTxResult.OK);
        assert.equal(got.again, want);
        assert.match(live.liveConfig().text, /romd: true/);
      } finally {
        await live.detach();
      }
    });

    it('without a gdbstub reads guest memory with the monitor', async () => {
      const live = await LiveQemu.attach({ qmp: ep(q.qmpPath) });
      try {
        assert.equal(await live.query((cfg) => answer(cfg, 0x1000_0010n, 'read')), 'mach-virt.ram+0x200010');
      } finally {
        await live.detach();
      }
    });

    it('snapshot + reload gives the same answers as live', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-snap-'));
      try {
        const addrs: Array<[bigint, 'read' | 'write']> = [];
        for (let a = 0x0fff_f000n; a < 0x1001_2000n; a += 0x1800n) addrs.push([a, 'read'], [a, 'write']);
        addrs.push([0x2000_0000n, 'read'], [0x2000_0000n, 'write'], [0x3000_0000n, 'read']);
        const { liveAnswers, cfg, files } = await snapshotBesideLive(q.qmpPath, q.gdbAddress, dir, addrs);
        assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
        // QEMU's dump leaves the flash out (a ROM device is not RAM to it): a sink, with no image to warn about.
        assert.deepEqual(cfg.diagnostics.filter((d) => d.code === 'image-size').map((d) => d.message), []);
        assert.equal(regionKindName(cfg.machine.systemAs!.lookup(0x4n)!.region), 'mmio');
        assert.deepEqual(addrs.map(([a, op]) => answer(cfg, a, op)), liveAnswers);
        assert.ok(liveAnswers.some((a) => a.startsWith('mach-virt.ram+0x20')) && liveAnswers.includes('fault permission'), liveAnswers.join(', '));
        const regs = JSON.parse(fs.readFileSync(files.registers, 'utf8')) as { iommus: Record<string, { registers: Record<string, string> }> };
        assert.equal(BigInt(regs.iommus.smmu0!.registers.CR0!), cr0);
        // The CLI's snapshot writes the same three files.
        const c = capture();
        assert.equal(await runLiveCli(['snapshot', '--qmp', q.qmpPath, '--gdb', q.gdbAddress, '--out', path.join(dir, 'cli')], c.io), 0, c.err.join('\n'));
        assert.ok(fs.existsSync(path.join(dir, 'cli', 'snapshot.iommu.yaml')) && fs.existsSync(path.join(dir, 'cli', 'memory.elf')));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('leaves a running guest running', async () => {
      // QEMU's QMP socket serves one client at a time.
      const first = await QmpClient.connect(ep(q.qmpPath));
      await first.execute('cont');
      first.close();
      const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
      assert.equal(live.state.wasRunning, true);
      assert.equal(((await live.qmp.execute('query-status')) as { running: boolean }).running, false, 'the gdbstub stops it while attached');
      await live.detach();
      const after = await QmpClient.connect(ep(q.qmpPath));
      try {
        assert.equal(((await after.execute('query-status')) as { running: boolean }).running, true);
        await after.execute('stop');
      } finally {
        after.close();
      }
    });
  });

  describe('bad peers', () => {
    it('a socket that is not QEMU: clear errors, within the timeout', async () => {
      const chatty = net.createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
      const silent = net.createServer(() => undefined);
      const held: net.Socket[] = [];
      silent.on('connection', (s) => held.push(s));
      await new Promise<void>((r) => chatty.listen(0, '127.0.0.1', r));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const port = (s: net.Server) => (s.address() as net.AddressInfo).port;
      try {
        await assert.rejects(QmpClient.connect(ep(`127.0.0.1:${port(chatty)}`)), /not a QMP monitor/);
        await assert.rejects(QmpClient.connect(ep(`127.0.0.1:${port(silent)}`), { connectTimeoutMs: 300 }), /no greeting within 300 ms/);
        await assert.rejects(GdbClient.connect(ep(`127.0.0.1:${port(chatty)}`)), /not a gdbstub/);
        await assert.rejects(GdbClient.connect(ep(`127.0.0.1:${port(silent)}`), { connectTimeoutMs: 300 }), /no reply to "\?" within 300 ms/);
        // QEMU's QMP socket given as the gdbstub, and the gdbstub as QMP.
        await assert.rejects(GdbClient.connect(ep(q.qmpPath), { connectTimeoutMs: 2000 }), /not a gdbstub/);
        const c = capture();
        assert.equal(await runLiveCli(['attach', '--qmp', `127.0.0.1:${port(chatty)}`, 'tree'], c.io), 2);
        assert.match(c.err.join('\n'), /not a QMP monitor/);
      } finally {
        for (const s of held) s.destroy();
        chatty.close();
        silent.close();
      }
    });

    it('QEMU exiting mid-session ends pending and later requests with an error', async () => {
      const q2 = await QemuProcess.start();
      const qmp = await QmpClient.connect(ep(q2.qmpPath));
      const gdb = await GdbClient.connect(ep(q2.gdbAddress));
      await gdb.enterPhysicalMode();
      const closed = new Promise((r) => qmp.once('close', r));
      await q2.stop();
      await closed;
      await assert.rejects(qmp.execute('query-status'), /closed the QMP connection \(has it exited\?\)/);
      await assert.rejects(gdb.read(RAM_BASE, 8), /gdbstub at .*(closed the connection|connection failed)/);
      await gdb.close();
    });

    it('a gdbstub that refuses physical-memory mode is a GdbRefusal, not virtual reads', async () => {
      // A minimal RSP peer (QEMU's own stub always accepts): answers ? and qqemu.*, refuses the mode.
      const variants: Array<[string, RegExp]> = [
        ['sstepbits;sstep;PhyMemMode', /refused physical-memory mode \(Qqemu.PhyMemMode:1 answered "E01"\)/],
        ['', /does not offer physical-memory mode/],
      ];
      for (const [features, expected] of variants) {
        const srv = net.createServer((s) => {
          s.setEncoding('latin1');
          s.on('data', (d: string) => {
            for (const m of d.matchAll(/\$([^#]*)#[0-9a-f]{2}/g)) {
              s.write('+');
              const p = m[1]!;
              const reply = p === '?' ? 'S05' : p === 'qqemu.Supported' ? features : p === 'qqemu.PhyMemMode' ? '0' : p.startsWith('Qqemu.PhyMemMode') ? 'E01' : '';
              s.write(rspFrame(reply));
            }
          });
        });
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        const gdb = await GdbClient.connect(ep(`127.0.0.1:${(srv.address() as net.AddressInfo).port}`));
        await assert.rejects(gdb.enterPhysicalMode(), (e: unknown) => e instanceof GdbRefusal && expected.test(e.message));
        await gdb.close();
        srv.close();
      }
    });

    it('an mtree the parser has not seen: problems with line numbers, and attach says what is missing', () => {
      const p = parseMtreeFlat('address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n');
      assert.equal(p.views.length, 0);
      assert.deepEqual(p.problems.map((x) => x.line), [1, 2]);
      const odd = parseMtreeFlat('FlatView #0\n AS "memory", root: system\n Root memory region: system\n  0000000040000000-000000004fffffff (prio 0, ram): ram\n  weird line here\n  0000000050000000-000000004fffffff (prio 0, ram): backwards\n');
      assert.equal(viewOf(odd, 'memory')?.ranges.length, 1);
      assert.deepEqual(odd.problems.map((x) => x.line), [5, 6]);
      assert.match(odd.problems[1]!.message, /ends before it starts/);
    });
  });
});

/**
 * Attaching to Debian's QEMU 7.2 on x86 (qemu-system-x86_64 -machine q35 -device
 * intel-iommu,caching-mode=on,aw-bits=48 -device edu, started here with its tables programmed
 * through qtest as a driver would): the VT-d discoverer finds the DMAR unit and the requester IDs
 * of its address spaces, the config entry carries the properties and registers QEMU shows (the
 * invalidation queue restored at QEMU's head), translations walk the tables QEMU holds, the
 * CLI's attach and snapshot work on it, and what the attach cannot reproduce (a pending fault
 * record) is a note.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runLiveCli } from '../../src/cli/live';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO, MEMTXATTRS_UNSPECIFIED, MemTxResult } from '../../src/engine';
import type { IntelIommu } from '../../src/engine/models/intel-iommu';
import { LiveQemu } from '../../src/node/qemu/live';
import { QmpClient } from '../../src/node/qemu/qmp';
import { QEMU_X86_64, QemuProcess, qemuAvailable } from '../qemu/qemu-process';
import { QtestClient } from '../qemu/qtest';
import { EDU_SID, VTD_BASE, eduDma, eduId, enableEdu, programVtd, vtdRead, vtdWrite } from '../qemu/vtd-setup';
import { ep, EDU, capture, answer, readWriteRead, snapshotBesideLive } from '../qemu/live-helpers';


describe('live QEMU (qemu-system-x86_64 -machine q35 -device intel-iommu)', function () {
  this.timeout(60000);
  let q: QemuProcess;
  let qt: QtestClient;
  let root = 0n;

  before(async function () {
    if (!qemuAvailable(QEMU_X86_64)) {
      console.log(`      ${QEMU_X86_64} is not installed (Debian package qemu-system-x86): skipped`);
      this.skip();
    }
    q = await QemuProcess.start({ machine: 'q35', qtest: true, intelIommu: 'caching-mode=on,aw-bits=48', extraArgs: ['-icount', 'shift=0,sleep=off'] });
    qt = await QtestClient.connect(q.qtestPath!);
    assert.equal(await eduId(qt), 0x11e8_1234);
    await enableEdu(qt);
    const p = await programVtd(qt, {
      tablesAt: 0x100_0000n,
      tablesSize: 0x10_0000n,
      statusAt: 0x1f0_0000n,
      queue: { qs: 0 },
      devices: [
        [
          EDU_SID,
          {
            domain: 7,
            awBits: 48,
            map: [
              { iova: 0x1000_0000n, size: 0x1_0000n, pa: 0x20_0000n, perm: IOMMU_RW },
              { iova: 0x2000_0000n, size: 0x1000n, pa: 0x30_0000n, perm: IOMMU_RO },
              { iova: 0x3000_0000n, size: 0x1000n, pa: 0x31_0000n, perm: IOMMU_WO },
              { iova: 0x80_0000_0000n, size: 0x20_0000n, pa: 0x60_0000n, perm: IOMMU_RW },
            ],
          },
        ],
      ],
    });
    root = p.built.root;
  });
  after(async () => {
    qt?.close();
    await q?.stop();
  });

  it('finds the DMAR unit, its registers and the requester IDs of its address spaces', async () => {
    const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
    try {
      const s = live.state;
      assert.equal(s.iommus.length, 1);
      const v = s.iommus[0]!;
      assert.equal(v.name, 'vtd0');
      assert.equal(v.found.model, 'intel-iommu');
      assert.equal(v.found.base, VTD_BASE);
      assert.equal(v.found.size, 0x230n);
      // q35 with -nodefaults: the host bridge 00:00.0, edu 00:01.0, the ICH9 LPC, SATA and SMBus functions 00:1f.0/2/3.
      assert.deepEqual([...v.found.requesterIds].sort((a, b) => a - b), [0x00, 0x08, 0xf8, 0xfa, 0xfb]);
      assert.equal(v.registers.get('VER'), 0x10n);
      // GSTS: TES, RTPS, QIES; the wait descriptor moved IQH to 3 descriptors (0x30) = IQT.
      assert.equal(v.registers.get('GSTS'), 0xc400_0000n);
      assert.equal((v.registers.get('RTADDR_HI')! << 32n) | v.registers.get('RTADDR_LO')!, root);
      assert.equal(v.registers.get('IQH_LO'), 0x30n);
      assert.equal(v.registers.get('IQT_LO'), 0x30n);
      const text = live.liveConfig().text;
      assert.match(text, /model: intel-iommu/);
      assert.match(text, /profile: qemu-7\.2/);
      assert.match(text, /aw-bits: 48/);
      assert.match(text, /caching-mode: true/);
      assert.match(text, /iqh: "?0x30"?/);
      assert.match(text, /edu-00\.01\.0:\n\s+kind: pci\n\s+bdf: 00:01\.0\n\s+iommu: vtd0/);
      const got = await live.query((cfg) => {
        assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
        const vtd = cfg.machine.iommus.get('vtd0') as unknown as IntelIommu;
        const rd = (off: number) => vtd.regs.read(BigInt(off), 8, MEMTXATTRS_UNSPECIFIED).value;
        return {
          cap: vtd.cap,
          ecap: vtd.ecap,
          gsts: vtd.regs.getLong(0x1c),
          head: vtd.queue.head,
          tail: vtd.queue.tail,
          enabled: vtd.queue.enabled,
          iqh: rd(0x80),
          answers: [
            answer(cfg, 0x1000_0010n, 'read'),
            answer(cfg, 0x1000_fff8n, 'write'),
            answer(cfg, 0x1001_0000n, 'read'),
            answer(cfg, 0x2000_0008n, 'read'),
            answer(cfg, 0x2000_0008n, 'write'),
            answer(cfg, 0x3000_0008n, 'read'),
            answer(cfg, 0x3000_0008n, 'write'),
            answer(cfg, 0x80_001f_fff8n, 'write'),
            answer(cfg, 1n << 48n, 'read'),
          ],
        };
      });
      const q64 = (n: string) => (v.registers.get(`${n}_HI`)! << 32n) | v.registers.get(`${n}_LO`)!;
      assert.equal(got.cap, q64('CAP'), 'the engine offers the capabilities QEMU does');
      assert.equal(got.ecap, q64('ECAP'));
      assert.equal(got.gsts, 0xc400_0000);
      assert.deepEqual([got.head, got.tail, got.enabled, got.iqh], [3, 3, true, 0x30n]);
      assert.deepEqual(got.answers, [
        'pc.ram@0x100000+0x100010',
        'pc.ram@0x100000+0x10fff8',
        'fault permission', // an empty entry: VTD_FR_READ
        'pc.ram@0x100000+0x200008',
        'fault permission',
        'fault permission', // write-only: VT-d grants W without R
        'pc.ram@0x100000+0x210008',
        'pc.ram@0x100000+0x6ffff8', // a 2 MiB page at 2^39
        'fault permission', // 2^48: VTD_FR_ADDR_BEYOND_MGAW
      ]);
      assert.ok(live.cache.fetched > 0 && live.cache.fetched < 16, `pages read: ${live.cache.fetched}`);
    } finally {
      await live.detach();
    }
  });

  it("reads QEMU's ROMs as ROM: the BIOS's bytes as QEMU reads them, a write refused", async () => {
    // q35 maps SeaBIOS (pc.bios, a ROM) below 4 GiB; the reset vector is its last 16 bytes.
    const want = await qt.readl(0xffff_fff0n);
    const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
    try {
      const got = await readWriteRead(live, 0xffff_fff0n);
      assert.match(got.region, /^pc\.bios/);
      assert.equal(got.kind, 'rom');
      assert.equal(got.value, want);
      assert.equal(got.write, MemTxResult.DECODE_ERROR);
      assert.equal(got.again, want);
      assert.match(live.liveConfig().text, /rom: true/);
    } finally {
      await live.detach();
    }
  });

  it('runs CLI commands on the live config: attach translate, attach tree', async () => {
    const c = capture();
    const code = await runLiveCli(['attach', '--qmp', q.qmpPath, '--gdb', q.gdbAddress, 'translate', '--from', EDU, '--addr', '0x1000_0010', '--json'], c.io);
    assert.equal(code, 0, c.err.join('\n'));
    const j = JSON.parse(c.out.join('\n')) as { landing?: { region?: string; offset?: string; addr?: string } };
    assert.equal(j.landing?.region, 'pc.ram@0x100000');
    assert.equal(j.landing?.addr, '0x200010');
    const t = capture();
    assert.equal(await runLiveCli(['attach', '--qmp', q.qmpPath, '--gdb', q.gdbAddress, 'tree'], t.io), 0, t.err.join('\n'));
    const tree = t.out.join('\n');
    assert.match(tree, /vtd0/);
    assert.match(tree, /0x1000_0000/);
  });

  it('snapshot + reload gives the same answers as live', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommu-lens-snap-'));
    try {
      const addrs: Array<[bigint, 'read' | 'write']> = [];
      for (let a = 0x0fff_f000n; a < 0x1001_2000n; a += 0x1800n) addrs.push([a, 'read'], [a, 'write']);
      addrs.push([0x2000_0000n, 'read'], [0x2000_0000n, 'write'], [0x3000_0000n, 'write'], [0x80_0010_0000n, 'read']);
      const { liveAnswers, cfg } = await snapshotBesideLive(q.qmpPath, q.gdbAddress, dir, addrs);
      assert.equal(cfg.errorCount, 0, cfg.diagnostics.map((d) => d.message).join('; '));
      assert.deepEqual(addrs.map(([a, op]) => answer(cfg, a, op)), liveAnswers);
      assert.ok(liveAnswers.includes('pc.ram@0x100000+0x100800') && liveAnswers.includes('fault permission'), liveAnswers.join(', '));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('notes a pending fault record it cannot reproduce', async () => {
    const qmp = await QmpClient.connect(ep(q.qmpPath));
    await qmp.execute('cont');
    qmp.close();
    // A read DMA from an unmapped IOVA: QEMU 7.2's walk checks the entry's R bit before its
    // presence (vtd_iova_to_slpte), so the empty entry gives VTD_FR_READ (6).
    await eduDma(qt, 0x5000_0000n, 4, false);
    const hi = await vtdRead(qt, 'FRCD_HI');
    assert.equal(hi >> 63n, 1n, 'QEMU recorded the fault');
    const live = await LiveQemu.attach({ qmp: ep(q.qmpPath), gdb: ep(q.gdbAddress) });
    try {
      const text = live.liveConfig().text;
      assert.match(text, /# note: vtd0: FRCD0 holds a pending fault \(SID 0x8, reason 0x6, read at 0x50000000\)/);
      assert.match(text, /# note: vtd0: FSTS 0x2 \(PFO, PPF or IQE set in QEMU\) is not reproduced/);
    } finally {
      await live.detach();
    }
    await vtdWrite(qt, 'FRCD_HI', 1n << 63n);
    assert.equal((await vtdRead(qt, 'FRCD_HI')) >> 63n, 0n);
  });
});

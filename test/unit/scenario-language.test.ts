/**
 * The scenario language, through the loader: expectations on notifications (exactly and as an
 * ordered subset), on an access's exact outcome (MemTxResult, value, the event records it made),
 * on a register peeked without its read side effects and on guest memory; register accesses at an
 * offset inside a register; accesses of any length split as QEMU's DMA helpers split them
 * (flatview_read_continue: per page, per flat range, per device access size; QEMU 7.2's 4-byte
 * pieces for a failed DMA); RAM fills, image slices and MMIO `reads-as`.
 */
import assert from 'node:assert/strict';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { MemTxResult, memoryAccessSize, runScenario, type ScenarioResult } from '../../src/engine';
import { MemoryByteSource } from '../../src/engine/images/byte-source';

function load(text: string, opts: Parameters<typeof loadConfig>[2] = {}): LoadedConfig {
  const cfg = loadConfig('t.iommu.yaml', text, opts);
  const errors = cfg.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors.map((d) => `${d.code} ${d.message}`), []);
  return cfg;
}

function run(text: string, opts: Parameters<typeof loadConfig>[2] = {}): ScenarioResult {
  const cfg = load(text, opts);
  return runScenario(cfg.machine, cfg.scenario);
}

function failures(r: ScenarioResult): string[][] {
  return r.steps.map((s) => [...s.failures, ...(s.error ? [`error: ${s.error.message}`] : [])]);
}

const MPC = `
iommu-lens: 1
memory:
  ssram: { kind: ram, size: 64KiB }
iommus:
  mpc0:
    model: tz-mpc
    downstream: ssram
    block-size: 1KiB
    ctrl: { autoinc: false }
    registers: { as: system, at: 0x58007000 }
address-spaces:
  system: [ { at: 0x0, region: mpc0 } ]
devices:
  cpu-ns: { as: system, attrs: { secure: false } }
  cpu-s: { as: system, attrs: { secure: true } }
notifiers:
  tcg-s:  { region: mpc0, index: 0, flags: [unmap], range: [0, 0xffff] }
  tcg-ns: { region: mpc0, index: 1, flags: [map, unmap], range: [0, 0xffff] }
`;

describe('scenario: notification expectations', () => {
  it('exactly: every delivered notification of the last step that was not an expectation, in order', () => {
    const r = run(`${MPC}
scenario:
  - write-reg: { iommu: mpc0, reg: BLK_LUT, value: 0x1 }
  - expect:
      notifications:
        - { notifier: tcg-s, type: UNMAP, iova: 0x0, mask: 0x3ff, perm: NONE }
        - { notifier: tcg-ns, type: UNMAP, iova: 0x0, mask: 0x3ff }
        - { notifier: tcg-ns, type: MAP, iova: 0x0, mask: 0x3ff, perm: RW, translated: 0x0, target: mpc0-downstream, index: 1 }
  - expect: { iommu: mpc0, reg: BLK_IDX, value: 0 }
  - expect:
      match: subset
      notifications: [ { notifier: tcg-ns, type: MAP } ]
  - expect:
      notifications: [ { notifier: tcg-ns, type: MAP } ]
`);
    const f = failures(r);
    assert.deepEqual(f.slice(0, 4), [[], [], [], []]);
    // Three were delivered: an exact expectation of one fails and lists them.
    assert.equal(f[4]!.length, 1);
    assert.match(f[4]![0]!, /^expected 1 notification\(s\), got 3: tcg-s \[mpc0 idx 0\] UNMAP iova 0x0 mask 0x3ff/);
  });

  it('subset keeps the order; a missing or out-of-order notification fails with what was seen', () => {
    const r = run(`${MPC}
scenario:
  - write-reg: { iommu: mpc0, reg: BLK_LUT, value: 0x1 }
  - expect: { match: subset, notifications: [ { notifier: tcg-ns, type: MAP }, { notifier: tcg-s } ] }
  - expect: { match: subset, notifications: [ { notifier: tcg-s, iova: 0x400 } ] }
  - expect: { notifications: [] }
`);
    const f = failures(r);
    assert.match(f[1]![0]!, /no notification \(after those matched before it\) matches \{ notifier=tcg-s \}/);
    assert.match(f[2]![0]!, /matches \{ notifier=tcg-s, iova=0x400 \}/);
    assert.match(f[3]![0]!, /^expected 0 notification\(s\), got 3/);
  });

  it('a notifier the config does not register is a diagnostic with its position', () => {
    const cfg = loadConfig('t.iommu.yaml', `${MPC}
scenario:
  - expect: { notifications: [ { notifier: tcg-x } ] }
`);
    const d = cfg.diagnostics.find((x) => x.code === 'unknown-reference');
    assert.ok(d, cfg.diagnostics.map((x) => x.message).join('\n'));
    assert.equal(d.range.start.line, 21);
  });
});

describe('scenario: register accesses inside a register, and peeked expectations', () => {
  it('a byte write to BLK_LUT+1 changes only that byte (tz_mpc_reg_write deposits it) and notifies its blocks', () => {
    const r = run(`${MPC}
scenario:
  - write-reg: { iommu: mpc0, reg: BLK_LUT, value: 0x11223344 }
  - write-reg: { iommu: mpc0, reg: BLK_LUT, offset: 1, size: 1, value: 0xff }
  - expect: { iommu: mpc0, reg: BLK_LUT, value: 0x1122ff44 }
  - read-reg: { iommu: mpc0, reg: BLK_LUT, offset: 2, size: 2 }
  - expect: { iommu: mpc0, reg: BLK_LUT, offset: 3, size: 1, value: 0x11 }
`);
    assert.deepEqual(failures(r), [[], [], [], [], []]);
    // 0x33 -> 0xff in byte 1: bits 8..15 change where 0x33 had zeros: 0xcc -> blocks 10, 11, 14, 15.
    const changed = new Set(r.steps[1]!.notifications.filter((n) => n.type === 'MAP').map((n) => Number(n.entry.iova) / 1024));
    assert.deepEqual([...changed].sort((a, b) => a - b), [10, 11, 14, 15]);
    assert.equal(r.steps[1]!.summary, 'mpc0.BLK_LUT+1 <- 0xff (1 bytes, secure): MEMTX_OK');
    assert.equal(r.steps[3]!.value, 0x1122n);
  });

  it('a register expectation peeks: BLK_LUT with AUTOINC does not advance BLK_IDX, and says so', () => {
    const r = run(`${MPC}
scenario:
  - write-reg: { iommu: mpc0, reg: CTRL, value: 0x100 }
  - expect: { iommu: mpc0, reg: BLK_LUT, value: 0 }
  - expect: { iommu: mpc0, reg: BLK_IDX, value: 0 }
  - read-reg: { iommu: mpc0, reg: BLK_LUT }
  - expect: { iommu: mpc0, reg: BLK_IDX, value: 1 }
  - expect: { iommu: mpc0, reg: CTRL, value: 0x100, mask: 0x100 }
  - expect: { iommu: mpc0, reg: CTRL, value: 0, mask: 0x100 }
`);
    const f = failures(r);
    assert.deepEqual(f.slice(0, 6), [[], [], [], [], [], []]);
    assert.match(r.steps[1]!.summary, /peeked without its read side effect: with CTRL.AUTOINC set, a 32-bit read advances BLK_IDX/);
    assert.deepEqual(f[6], ['mpc0.CTRL is 0x100, expected 0x0 (mask 0x100)']);
  });

  it('an offset past the register is a positioned diagnostic', () => {
    const cfg = loadConfig('t.iommu.yaml', `${MPC}
scenario:
  - write-reg: { iommu: mpc0, reg: CTRL, offset: 2, size: 4, value: 0 }
`);
    assert.deepEqual(cfg.diagnostics.map((d) => `${d.range.start.line}:${d.code}`), ['21:register-offset']);
  });
});

const SMMU = (extra = '') => `
iommu-lens: 1
${extra}
memory:
  ram: { kind: ram, size: 64MiB }
iommus:
  smmu0:
    model: smmuv3
    walk-memory: system
    build:
      at: ram+0x100_0000
      streams:
        0x10:
          stage1: { granule: 4KiB, t0sz: 16, asid: 1,
                    map: [ { iova: 0x1000_0000, size: 4KiB, pa: 0x4020_0000, perm: rw },
                           { iova: 0x1000_1000, size: 4KiB, pa: 0x4050_0000, perm: ro } ] }
    registers: { as: system, at: 0x0905_0000 }
address-spaces:
  system:
    - { at: 0x4000_0000, region: ram }
devices:
  cpu:  { as: system }
  edu0: { kind: pci, bdf: "00:02.0", iommu: smmu0 }
`;

describe('scenario: accesses of any length, split as QEMU splits them', () => {
  it('memory_access_size: the device maximum, cut to the alignment and to a power of two', () => {
    assert.equal(memoryAccessSize(8, 16, 0x10n), 8);
    assert.equal(memoryAccessSize(8, 16, 0x14n), 4);
    assert.equal(memoryAccessSize(4, 3, 0x0n), 2);
    assert.equal(memoryAccessSize(8, 8, 0x3n), 1);
  });

  it('a 16-byte DMA across two pages is two pieces, each translated through its own mapping', () => {
    const cfg = load(`${SMMU()}
scenario:
  - write-mem: { as: system, addr: 0x4020_0ff8, value: 0x1111111111111111, size: 8 }
  - write-mem: { as: system, addr: 0x4050_0000, value: 0x2222222222222222, size: 8 }
  - access: { from: edu0, addr: 0x1000_0ff8, op: read, size: 16 }
  - expect: { from: edu0, addr: 0x1000_0ff8, size: 16, result: MEMTX_OK, value: 0x1111111111111111 }
  - access: { from: edu0, addr: 0x1000_0ff8, op: write, size: 16, fill: 0xab }
`);
    const r = runScenario(cfg.machine, cfg.scenario);
    const s = r.steps[2]!;
    assert.deepEqual(
      s.pieces!.map((p) => [p.addr, p.size, p.result, p.region, p.offset]),
      [
        [0x1000_0ff8n, 8, MemTxResult.OK, 'ram', 0x20_0ff8n],
        [0x1000_1000n, 8, MemTxResult.OK, 'ram', 0x50_0000n],
      ],
    );
    assert.equal(s.value, 0x1111111111111111n);
    assert.deepEqual(failures(r)[3], []);
    // The write: the second page is read-only: its piece fails (F_PERMISSION recorded), the first lands.
    const w = r.steps[4]!;
    assert.deepEqual(w.pieces!.map((p) => [p.size, p.result]), [[8, MemTxResult.OK], [8, MemTxResult.DECODE_ERROR]]);
    assert.equal(w.result, MemTxResult.DECODE_ERROR);
    assert.deepEqual(w.events!.map((e) => [e.iommu, e.type, e.recorded, e.fields.inputAddr]), [['smmu0', 'F_PERMISSION', true, 0x1000_1000n]]);
  });

  it('a failed 8-byte DMA: one event by default, two under dma-split: qemu-7.2 (4-byte pieces, each translated)', () => {
    const steps = `
scenario:
  - expect:
      from: edu0
      addr: 0x2000_0000
      size: 8
      result: MEMTX_DECODE_ERROR
      value: 0
      events: [ { type: F_TRANSLATION, recorded: true, fields: { sid: 0x10, inputAddr: 0x2000_0000, rnw: true } } ]
`;
    assert.deepEqual(failures(run(SMMU() + steps)), [[]]);
    const q = run(SMMU('dma-split: qemu-7.2') + steps);
    assert.equal(q.steps[0]!.failures.length, 1);
    assert.match(q.steps[0]!.failures[0]!, /^expected 1 event record\(s\), the access made 2: smmu0 F_TRANSLATION sid=16 inputAddr=0x20000000 .*; smmu0 F_TRANSLATION sid=16 inputAddr=0x20000004/);
    assert.deepEqual(q.steps[0]!.pieces!.map((p) => [p.addr, p.size]), [[0x2000_0000n, 4], [0x2000_0004n, 4]]);
    const ok = run(`${SMMU('dma-split: qemu-7.2')}
scenario:
  - expect:
      { from: edu0, addr: 0x2000_0000, size: 8, result: MEMTX_DECODE_ERROR,
        events: [ { type: F_TRANSLATION, fields: { inputAddr: 0x2000_0000 } }, { code: 0x10, fields: { inputAddr: 0x2000_0004 } } ] }
  - expect: { from: edu0, addr: 0x1000_0000, result: MEMTX_OK, events: [] }
  - expect: { from: edu0, addr: 0x1000_0000, faults: true }
  - expect: { from: edu0, addr: 0x2000_0000, faults: permission }
  - expect: { from: edu0, addr: 0x1000_1000, op: write, result: MEMTX_OK }
`);
    const f = failures(ok);
    assert.deepEqual(f.slice(0, 2), [[], []]);
    assert.match(f[2]![0]!, /^expected a fault, but the read reached ram\+0x200000/);
    assert.deepEqual(f[3], []);
    assert.match(f[4]![0]!, /^result MEMTX_DECODE_ERROR, expected MEMTX_OK/);
  });

  it('an access past the end of a region is split across the flat ranges, not a decode error', () => {
    const r = run(`
iommu-lens: 1
memory:
  lo: { kind: ram, size: 4KiB, contents: [ { at: 0xffc, value: 0x11223344, size: 4 } ] }
  hi: { kind: ram, size: 4KiB, contents: [ { at: 0x0, value: 0x55667788, size: 4 } ] }
  win: { kind: mmio, size: 4KiB, reads-as: 0xffffffff }
address-spaces:
  system: [ { at: 0x0, region: lo }, { at: 0x1000, region: hi }, { at: 0x2000, region: win } ]
scenario:
  - access: { from: system, addr: 0xffc, op: read, size: 8 }
  - access: { from: system, addr: 0x1ffc, op: read, size: 8 }
  - access: { from: system, addr: 0x2ffc, op: read, size: 8 }
  - write-mem: { as: system, addr: 0xffe, value: 0xaabbccdd, size: 4 }
  - expect: { as: system, addr: 0xffc, size: 8, value: 0x5566aabbccdd3344 }
`);
    assert.deepEqual(r.steps[3]!.pieces!.map((p) => [p.region, p.size]), [['lo', 2], ['hi', 2]]);
    assert.deepEqual(failures(r).slice(3), [[], []]);
    const [a, b, c] = r.steps;
    assert.equal(a!.result, MemTxResult.OK);
    assert.equal(a!.value, 0x5566778811223344n);
    assert.deepEqual(a!.pieces!.map((p) => [p.region, p.offset, p.size]), [['lo', 0xffcn, 4], ['hi', 0n, 4]]);
    assert.equal(b!.value, 0xffffffff00000000n);
    assert.deepEqual(b!.pieces!.map((p) => [p.region, p.size]), [['hi', 4], ['win', 4]]);
    // Past the window nothing is mapped: that piece is a decode error and reads 0.
    assert.equal(c!.result, MemTxResult.DECODE_ERROR);
    assert.equal(c!.value, 0xffffffffn);
  });

  it('register blocks split by their valid.max_access_size: an 8-byte read of TZ MPC registers is two 4-byte reads', () => {
    const r = run(`${MPC}
scenario:
  - access: { from: cpu-s, addr: 0x58007010, op: read, size: 8 }
`);
    const s = r.steps[0]!;
    // BLK_MAX: 64 blocks of 1 KiB in 2 LUT words (reads blk_max - 1); BLK_CFG: ctz(1024) - 5.
    assert.deepEqual(s.pieces!.map((p) => [p.offset, p.size, p.value]), [[0x10n, 4, 1n], [0x14n, 4, 5n]]);
    assert.equal(s.value, 0x5_0000_0001n);
  });
});

describe('scenario: command status', () => {
  it('a command step with `expect-status` checks how an SMMUv3 command ended, by its CMDQ_CONS.ERR name', () => {
    const r = run(`${SMMU()}
scenario:
  - command: { iommu: smmu0, cmd: TLBI_NH_ASID, asid: 1, expect-status: CERROR_NONE }
  - command: { iommu: smmu0, cmd: CMD_SYNC, expect-status: CERROR_ILL }
`);
    assert.deepEqual(failures(r), [[], ['status CERROR_NONE, expected CERROR_ILL']]);
  });
});

describe('scenario: guest memory and RAM contents', () => {
  it('fill zeroes or patterns a range; expect on guest memory reads without side effects', () => {
    const r = run(`
iommu-lens: 1
memory:
  ram: { kind: ram, size: 64KiB, contents: [ { at: 0x0, size: 16KiB, fill: 0xa5 }, { at: 0x1000, size: 4KiB, fill: 0 }, { at: 0x1ffe, value: 0x1234, size: 2 } ] }
address-spaces:
  system: [ { at: 0x8000_0000, region: ram } ]
scenario:
  - expect: { as: system, addr: 0x8000_0ff8, size: 8, value: 0xa5a5a5a5a5a5a5a5 }
  - expect: { as: system, addr: 0x8000_1ffc, size: 4, value: 0x12340000 }
  - expect: { as: system, addr: 0x8000_3ffe, size: 4, value: 0x0000a5a5 }
  - expect: { as: system, addr: 0x8000_2000, size: 2, value: 0xa5a5 }
  - expect: { as: system, addr: 0x8000_2000, size: 2, value: 0 }
`);
    const f = failures(r);
    assert.deepEqual(f.slice(0, 4), [[], [], [], []]);
    assert.deepEqual(f[4], ['system 0x80002000 holds 0xa5a5, expected 0x0']);
  });

  it('fill needs a size, and a fill past the region is a positioned error', () => {
    const cfg = loadConfig('t.iommu.yaml', `
iommu-lens: 1
memory:
  ram: { kind: ram, size: 4KiB, contents: [ { at: 0x0, fill: 1 }, { at: 0xf00, size: 512, fill: 2 }, { at: 0, size: 3, value: 1 } ] }
`);
    assert.deepEqual(
      cfg.diagnostics.map((d) => `${d.code} ${d.message}`),
      [
        'missing-key a "fill" entry needs "size" (how many bytes to fill)',
        'address-range initial contents: 0x200 byte(s) at offset 0xf00 run past the end of the region (0x1000 bytes)',
        'bad-value a value is 1, 2, 4 or 8 bytes; use "fill" for a longer range',
      ],
    );
  });

  it('an image slice: two regions share one raw file without a size warning', () => {
    const file = new Uint8Array(0x2000);
    file.fill(0x11, 0, 0x1000);
    file.fill(0x22, 0x1000, 0x2000);
    const text = (slice: string) => `
iommu-lens: 1
memory:
  a: { kind: ram, size: 4KiB, image: { file: m.bin, format: raw${slice} } }
  b: { kind: ram, size: 4KiB, image: { file: m.bin, format: raw, offset: 0x1000${slice} } }
address-spaces:
  system: [ { at: 0x0, region: a }, { at: 0x1000, region: b } ]
scenario:
  - expect: { as: system, addr: 0xffc, size: 8, value: 0x2222222211111111 }
`;
    const opts = { openImage: () => new MemoryByteSource(file, 'm.bin') };
    const whole = loadConfig('t.iommu.yaml', text(''), opts);
    assert.deepEqual(whole.diagnostics.map((d) => d.code), ['image-size']);
    const cfg = load(text(', size: 0x1000'), opts);
    assert.deepEqual(cfg.diagnostics, []);
    assert.deepEqual(failures(runScenario(cfg.machine, cfg.scenario)), [[]]);
    const past = loadConfig('t.iommu.yaml', text(', size: 0x2000'), opts);
    assert.ok(past.diagnostics.some((d) => d.code === 'image-size' && /slice from offset 0x1000 runs past the end of the file/.test(d.message)));
  });
});

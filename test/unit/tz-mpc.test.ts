/**
 * The TZ MPC model against QEMU's hw/misc/tz-mpc.c: registers, lockdown, AUTOINC, sub-word
 * accesses, the four-event LUT notification, translation through the memory system, the blocked
 * region's capture and response, replay, and a property test that notifier shadows stay exact.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { MEMTXATTRS_UNSPECIFIED, MemTxResult, type MemTxAttrs } from '../../src/engine/attrs';
import { AddressSpace } from '../../src/engine/address-space';
import { isEngineError, type EngineError } from '../../src/engine/errors';
import type { AccessSize } from '../../src/engine/guest-memory';
import { HWADDR_MAX } from '../../src/engine/hex';
import type { Trace } from '../../src/engine/trace';
import type { IOMMUNotifier } from '../../src/engine/iommu';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_IOTLB_EVENTS,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  IOMMU_RO,
  IOMMU_RW,
  type IOMMUNotifierFlag,
} from '../../src/engine/iotlb';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import { TZ_MPC_IDX_NS, TZ_MPC_IDX_S, TzMpc, type TzMpcOptions } from '../../src/engine/models/tz-mpc';
import { performAccess, translateAccess } from '../../src/engine/translate';

const SEC: MemTxAttrs = { secure: true };
const NSEC: MemTxAttrs = { secure: false };
const KiB = 1024n;

// Register offsets, written out again here so that a wrong constant in the model shows up.
const CTRL = 0x00;
const BLK_MAX = 0x10;
const BLK_CFG = 0x14;
const BLK_IDX = 0x18;
const BLK_LUT = 0x1c;
const INT_STAT = 0x20;
const INT_CLEAR = 0x24;
const INT_EN = 0x28;
const INT_INFO1 = 0x2c;
const INT_INFO2 = 0x30;
const INT_SET = 0x34;

function mpcOf(opts: Partial<TzMpcOptions> & { size?: bigint } = {}): { m: TzMpc; ram: RamRegion } {
  const ram = new RamRegion('ram', opts.size ?? 64n * KiB);
  const m = TzMpc.create({ name: 'mpc', downstream: ram, ...opts });
  if (isEngineError(m)) throw new Error(m.message);
  return { m, ram };
}

function rd(m: TzMpc, off: number, size: AccessSize = 4, attrs: MemTxAttrs = SEC): number {
  const r = m.registers.read(BigInt(off), size, attrs);
  assert.equal(r.result, MemTxResult.OK, `read of ${off.toString(16)} failed`);
  return Number(r.value);
}

function wr(m: TzMpc, off: number, value: number, size: AccessSize = 4, attrs: MemTxAttrs = SEC): void {
  assert.equal(m.registers.write(BigInt(off), size, BigInt(value), attrs), MemTxResult.OK);
}

interface Seen {
  readonly who: string;
  readonly type: IOMMUNotifierFlag;
  readonly iova: bigint;
  readonly translated: bigint;
  readonly mask: bigint;
  readonly perm: number;
  readonly target: string | null;
}

function recorder(
  name: string,
  idx: number,
  log: Seen[],
  flags: IOMMUNotifierFlag = IOMMU_NOTIFIER_IOTLB_EVENTS,
  start = 0n,
  end = HWADDR_MAX,
): IOMMUNotifier {
  return {
    name,
    owner: 'test',
    flags,
    start,
    end,
    iommuIdx: idx,
    notify: (_n, ev) =>
      log.push({
        who: name,
        type: ev.type,
        iova: ev.entry.iova,
        translated: ev.entry.translatedAddr,
        mask: ev.entry.addrMask,
        perm: ev.entry.perm,
        target: ev.entry.targetAs?.name ?? null,
      }),
  };
}

function seen(who: string, type: IOMMUNotifierFlag, iova: bigint, target: string | null): Seen {
  const unmap = type === IOMMU_NOTIFIER_UNMAP;
  return { who, type, iova, translated: iova, mask: 0x3ffn, perm: unmap ? IOMMU_NONE : IOMMU_RW, target };
}

const U = IOMMU_NOTIFIER_UNMAP;
const M = IOMMU_NOTIFIER_MAP;
const DOWN = 'mpc-downstream';
const BLOCKED = 'mpc-blocked-io';

describe('tz-mpc: options', () => {
  it('builds QEMU geometry from the downstream size and block size', () => {
    const { m } = mpcOf();
    assert.equal(m.model, 'tz-mpc');
    assert.equal(m.blockSize, 1024n);
    assert.equal(m.blockCount, 64);
    assert.equal(m.blkMax, 2);
    assert.equal(m.region.name, 'mpc');
    assert.equal(m.region.model, 'tz-mpc');
    assert.equal(m.region.size, 0x10000n);
    assert.equal(m.region.numIndexes(), 2);
    assert.equal(m.region.minPageSize(), 1024n);
    assert.equal(m.registerRegion.size, 0x1000n);
    assert.equal(m.registerRegion.name, 'mpc-regs');
    assert.equal(m.downstreamAs.name, DOWN);
    assert.equal(m.blockedAs.name, BLOCKED);
    assert.equal(m.blockedRegion.size, 0x10000n);
    assert.deepEqual(m.regions(), [m.region]);
    assert.equal(m.regionFor(0x42), m.region);
    assert.equal(m.regionFor(undefined), m.region);
  });

  const bad: Array<[string, Partial<TzMpcOptions> & { size?: bigint }, string]> = [
    ['a zero-size downstream', { size: 0n }, 'tz-mpc-downstream-size'],
    ['a size that is not a multiple of the block size', { size: 1536n }, 'tz-mpc-downstream-size'],
    ['a non-power-of-two block size', { blockSize: 1000n }, 'tz-mpc-block-size'],
    ['a zero block size', { blockSize: 0n }, 'tz-mpc-block-size'],
    ['a block size under 32 bytes', { blockSize: 16n }, 'tz-mpc-block-size'],
    ['more LUT words than blk_max', { lut: [0n, 0n, 0n] }, 'tz-mpc-lut-words'],
    ['a LUT word over 32 bits', { lut: [0x100000000n] }, 'tz-mpc-lut-value'],
    ['a negative LUT word', { lut: [-1n] }, 'tz-mpc-lut-value'],
    ['more LUT source ids than words', { lutSourceIds: ['a', 'b', 'c'] }, 'tz-mpc-lut-words'],
    ['a LUT too big for the engine', { size: 1n << 40n, blockSize: 32n }, 'tz-mpc-too-many-blocks'],
  ];
  for (const [what, opts, code] of bad) {
    it(`returns an EngineError, not an exception, for ${what}`, () => {
      const ram = new RamRegion('ram', opts.size ?? 64n * KiB);
      let r: TzMpc | EngineError | undefined;
      assert.doesNotThrow(() => {
        r = TzMpc.create({ name: 'mpc', downstream: ram, ...opts });
      });
      assert.ok(isEngineError(r), `expected an error for ${what}`);
      assert.equal((r).code, code);
    });
  }

  it("uses QEMU's text for a size that is not a multiple of the block size", () => {
    const r = TzMpc.create({ name: 'mpc', downstream: new RamRegion('ram', 1536n) });
    assert.ok(isEngineError(r));
    assert.match(r.message, /MPC 'downstream' size 1536 is not a multiple of 400 bytes/);
  });
});

describe('tz-mpc: registers', () => {
  it('reads every register at its QEMU reset value', () => {
    const { m } = mpcOf();
    const expected: Array<[number, number]> = [
      [CTRL, 0x100],
      [BLK_MAX, 1],
      [BLK_CFG, 5],
      [BLK_IDX, 0],
      [INT_STAT, 0],
      [INT_CLEAR, 0],
      [INT_EN, 1],
      [INT_INFO1, 0],
      [INT_INFO2, 0],
      [INT_SET, 0],
      [0xfd0, 0x04],
      [0xfd4, 0x00],
      [0xfd8, 0x00],
      [0xfdc, 0x00],
      [0xfe0, 0x60],
      [0xfe4, 0xb8],
      [0xfe8, 0x1b],
      [0xfec, 0x00],
      [0xff0, 0x0d],
      [0xff4, 0xf0],
      [0xff8, 0x05],
      [0xffc, 0xb1],
    ];
    for (const [off, v] of expected) assert.equal(rd(m, off), v, `offset 0x${off.toString(16)}`);
    // BLK_LUT last: a 32-bit read with the reset AUTOINC set advances BLK_IDX.
    assert.equal(rd(m, BLK_LUT), 0);
    assert.equal(m.blkIdx, 1);
    // INT_CLEAR and INT_SET are write-only: QEMU logs the read.
    assert.ok(m.log.some((e) => e.message === 'TZ MPC register read: write-only offset 0x24'));
    assert.ok(m.log.some((e) => e.message === 'TZ MPC register read: write-only offset 0x34'));
  });

  it('lists every register with the reset value a secure read returns', () => {
    const { m } = mpcOf();
    const regs = m.registers.registers;
    assert.equal(regs.length, 23);
    assert.deepEqual(
      regs.map((r) => r.name),
      ['CTRL', 'BLK_MAX', 'BLK_CFG', 'BLK_IDX', 'BLK_LUT', 'INT_STAT', 'INT_CLEAR', 'INT_EN', 'INT_INFO1', 'INT_INFO2', 'INT_SET',
        'PIDR4', 'PIDR5', 'PIDR6', 'PIDR7', 'PIDR0', 'PIDR1', 'PIDR2', 'PIDR3', 'CIDR0', 'CIDR1', 'CIDR2', 'CIDR3'],
    );
    for (const r of regs) {
      assert.equal(r.width, 4);
      assert.ok(r.description.length > 0);
      if (r.access === 'wo') continue;
      m.reset();
      assert.equal(BigInt(rd(m, r.offset)), r.reset, r.name);
    }
    assert.equal(regs.find((r) => r.name === 'INT_CLEAR')!.access, 'wo');
    assert.equal(regs.find((r) => r.name === 'BLK_CFG')!.access, 'ro');
    assert.equal(regs.find((r) => r.name === 'CTRL')!.offset, 0);
    assert.equal(regs.find((r) => r.name === 'CIDR3')!.offset, 0xffc);
  });

  const geometries: Array<[bigint, bigint, number, number]> = [
    // size, block size, BLK_MAX, BLK_CFG
    [64n * KiB, 1024n, 1, 5],
    [32n * KiB, 1024n, 0, 5],
    [40n * KiB, 1024n, 1, 5],
    [64n * KiB, 4096n, 0, 7],
    [2048n * KiB, 1024n, 63, 5],
    [1024n * KiB, 32n, 1023, 0],
    [1n << 31n, 1n << 31n, 0, 26],
  ];
  for (const [size, bs, blkMax, blkCfg] of geometries) {
    it(`reads BLK_MAX ${blkMax} and BLK_CFG ${blkCfg} for ${size} bytes in ${bs}-byte blocks`, () => {
      const { m } = mpcOf({ size, blockSize: bs });
      assert.equal(rd(m, BLK_MAX), blkMax);
      assert.equal(rd(m, BLK_CFG), blkCfg);
    });
  }

  it('lets non-secure (and unspecified) attributes see only the ID registers', () => {
    const { m } = mpcOf();
    wr(m, BLK_LUT, 0x0f, 4, SEC);
    wr(m, BLK_IDX, 0, 4, SEC);
    for (const attrs of [NSEC, MEMTXATTRS_UNSPECIFIED, { requesterId: 3 } as MemTxAttrs]) {
      assert.equal(rd(m, CTRL, 4, attrs), 0);
      assert.equal(rd(m, BLK_MAX, 4, attrs), 0);
      assert.equal(rd(m, INT_EN, 4, attrs), 0);
      assert.equal(rd(m, BLK_LUT, 4, attrs), 0);
      assert.equal(m.blkIdx, 0, 'an NS BLK_LUT read does not autoinc');
      assert.equal(rd(m, CTRL + 1, 1, attrs), 0);
      wr(m, CTRL, 0x10, 4, attrs);
      wr(m, BLK_IDX, 1, 4, attrs);
      wr(m, BLK_LUT, 0xffffffff, 4, attrs);
      wr(m, INT_SET, 1, 4, attrs);
      wr(m, INT_EN, 0, 1, attrs);
      assert.equal(m.ctrl, 0x100);
      assert.equal(m.blkIdx, 0);
      assert.deepEqual(m.lut, [0x0fn, 0n]);
      assert.equal(m.intStat, 0);
      assert.equal(m.intEn, 1);
      assert.equal(rd(m, 0xfd0, 4, attrs), 0x04);
      assert.equal(rd(m, 0xfe4, 4, attrs), 0xb8);
      assert.equal(rd(m, 0xffc, 4, attrs), 0xb1);
      assert.equal(rd(m, 0xff4, 1, attrs), 0xf0);
    }
    assert.ok(m.log.some((e) => e.message === 'TZ MPC register read: NS access to offset 0x0'));
    assert.ok(m.log.some((e) => e.message === 'TZ MPC register write: NS access to offset 0x1c'));
  });

  it('masks CTRL to SEC_RESP, AUTOINC and LOCKDOWN', () => {
    const { m } = mpcOf();
    wr(m, CTRL, 0x7fffffef);
    assert.equal(rd(m, CTRL), 0x100);
    wr(m, CTRL, 0x10);
    assert.equal(rd(m, CTRL), 0x10);
    assert.equal(m.secResp, true);
    assert.equal(m.autoinc, false);
  });

  it('makes CTRL, BLK_LUT and INT_EN read-only in lockdown, until reset', () => {
    const { m } = mpcOf();
    const log: Seen[] = [];
    assert.equal(m.region.registerNotifier(recorder('s', TZ_MPC_IDX_S, log)), undefined);
    wr(m, CTRL, 0x80000000); // LOCKDOWN, AUTOINC now clear
    assert.equal(rd(m, CTRL), 0x80000000);
    assert.equal(m.lockdown, true);
    wr(m, CTRL, 0x110);
    assert.equal(rd(m, CTRL), 0x80000000);
    wr(m, CTRL + 3, 0x00, 1);
    assert.equal(rd(m, CTRL), 0x80000000);
    wr(m, BLK_LUT, 0xff);
    wr(m, BLK_LUT + 2, 0xff, 1);
    assert.deepEqual(m.lut, [0n, 0n]);
    assert.equal(log.length, 0, 'a refused BLK_LUT write notifies nothing');
    wr(m, INT_EN, 0);
    assert.equal(rd(m, INT_EN), 1);
    // Not locked: BLK_IDX, INT_SET, INT_CLEAR.
    wr(m, BLK_IDX, 1);
    assert.equal(rd(m, BLK_IDX), 1);
    wr(m, INT_SET, 1);
    assert.equal(rd(m, INT_STAT), 1);
    wr(m, INT_CLEAR, 1);
    assert.equal(rd(m, INT_STAT), 0);
    assert.ok(m.log.some((e) => e.message === 'TZ MPC register write to offset 0x1c while MPC is in lockdown mode'));
    m.reset();
    assert.equal(rd(m, CTRL), 0x100);
    wr(m, INT_EN, 0);
    assert.equal(rd(m, INT_EN), 0);
    wr(m, BLK_LUT, 0xff);
    assert.deepEqual(m.lut, [0xffn, 0n]);
  });

  it('a byte write to CTRL bit 31 enters lockdown and keeps the other bytes', () => {
    const { m } = mpcOf();
    wr(m, CTRL + 3, 0x80, 1);
    assert.equal(m.ctrl, 0x80000100);
    assert.equal(m.lockdown, true);
  });

  it('advances BLK_IDX on 32-bit BLK_LUT reads and writes with AUTOINC, wrapping at blk_max', () => {
    const { m } = mpcOf({ size: 96n * KiB }); // 96 blocks: 3 LUT words
    assert.equal(m.autoinc, true, 'AUTOINC is set at reset (CTRL 0x100)');
    wr(m, BLK_LUT, 0x11);
    assert.equal(m.blkIdx, 1);
    wr(m, BLK_LUT, 0x22);
    wr(m, BLK_LUT, 0x33);
    assert.equal(m.blkIdx, 0, 'wraps after the last word');
    assert.deepEqual(m.lut, [0x11n, 0x22n, 0x33n]);
    assert.equal(rd(m, BLK_LUT), 0x11);
    assert.equal(rd(m, BLK_LUT), 0x22);
    assert.equal(m.blkIdx, 2);
    assert.equal(rd(m, BLK_LUT), 0x33);
    assert.equal(m.blkIdx, 0);
    // Sub-word accesses never advance.
    assert.equal(rd(m, BLK_LUT, 1), 0x11);
    assert.equal(rd(m, BLK_LUT + 2, 2), 0);
    wr(m, BLK_LUT, 0x44, 1);
    assert.equal(m.blkIdx, 0);
    assert.deepEqual(m.lut, [0x44n, 0x22n, 0x33n]);
    // AUTOINC clear: nothing advances.
    wr(m, CTRL, 0);
    wr(m, BLK_LUT, 0x55);
    assert.equal(rd(m, BLK_LUT), 0x55);
    assert.equal(m.blkIdx, 0);
  });

  it('stays on the only word when blk_max is 1', () => {
    const { m } = mpcOf({ size: 32n * KiB });
    wr(m, BLK_LUT, 1);
    assert.equal(m.blkIdx, 0);
    wr(m, BLK_LUT, 3);
    assert.deepEqual(m.lut, [3n]);
  });

  it('stores BLK_IDX modulo blk_max, also for narrow writes', () => {
    const { m } = mpcOf({ size: 96n * KiB });
    wr(m, BLK_IDX, 7);
    assert.equal(rd(m, BLK_IDX), 1);
    wr(m, BLK_IDX, 0xffffffff);
    assert.equal(rd(m, BLK_IDX), 0); // 4294967295 = 3 * 1431655765
    wr(m, BLK_IDX, 5);
    assert.equal(rd(m, BLK_IDX), 2);
    // A byte write deposits into the current BLK_IDX: byte 1 = 1 gives 0x102 = 258, % 3 = 0.
    wr(m, BLK_IDX + 1, 1, 1);
    assert.equal(rd(m, BLK_IDX), 0);
    wr(m, BLK_IDX, 1);
    wr(m, BLK_IDX + 1, 1, 1); // 0x101 = 257, % 3 = 2
    assert.equal(rd(m, BLK_IDX), 2);
  });

  it('reads narrow accesses as bytes of the word', () => {
    const { m } = mpcOf();
    assert.equal(rd(m, CTRL, 1), 0x00);
    assert.equal(rd(m, CTRL + 1, 1), 0x01);
    assert.equal(rd(m, CTRL, 2), 0x0100);
    assert.equal(rd(m, CTRL + 2, 2), 0);
    wr(m, CTRL, 0);
    wr(m, BLK_LUT, 0xa1b2c3d4);
    assert.deepEqual(
      [0, 1, 2, 3].map((b) => rd(m, BLK_LUT + b, 1)),
      [0xd4, 0xc3, 0xb2, 0xa1],
    );
    assert.equal(rd(m, BLK_LUT + 2, 2), 0xa1b2);
    assert.equal(rd(m, 0xfe4, 1), 0xb8);
    assert.equal(rd(m, 0xfe5, 1), 0);
  });

  it('writes narrow accesses into the current word for CTRL, BLK_IDX, BLK_LUT and into zeroes elsewhere', () => {
    const { m } = mpcOf();
    wr(m, CTRL, 0);
    wr(m, BLK_LUT, 0xa1b2c3d4);
    const log: Seen[] = [];
    m.region.registerNotifier(recorder('s', TZ_MPC_IDX_S, log, IOMMU_NOTIFIER_MAP));
    wr(m, BLK_LUT + 1, 0xee, 1);
    assert.deepEqual(m.lut, [0xa1b2eed4n, 0n]);
    // 0xc3 ^ 0xee = 0x2d: bits 8, 10, 11, 13 of the word changed.
    assert.deepEqual(log.map((e) => e.iova), [8n * KiB, 10n * KiB, 11n * KiB, 13n * KiB]);
    wr(m, BLK_LUT + 2, 0x1234, 2);
    assert.deepEqual(m.lut, [0x1234eed4n, 0n]);
    // INT_EN: a halfword write to the upper half deposits into 0, so bit 0 is cleared.
    wr(m, INT_EN + 2, 1, 2);
    assert.equal(m.intEn, 0);
    wr(m, INT_EN, 1, 1);
    assert.equal(m.intEn, 1);
    // INT_SET byte 1 = 1 is bit 8: no effect. Byte 0 = 1 sets.
    wr(m, INT_SET + 1, 1, 1);
    assert.equal(m.intStat, 0);
    wr(m, INT_SET, 1, 1);
    assert.equal(m.intStat, 1);
    wr(m, INT_CLEAR, 0xff, 1);
    assert.equal(m.intStat, 0);
    // A byte write to CTRL byte 0 keeps AUTOINC (byte 1) from the current value.
    wr(m, CTRL, 0x110);
    wr(m, CTRL, 0x00, 1);
    assert.equal(m.ctrl, 0x100);
  });

  it('refuses unaligned and 8-byte register accesses as memory.c does (decode error)', () => {
    const { m } = mpcOf();
    assert.deepEqual(m.registers.read(1n, 2, SEC), { value: 0n, result: MemTxResult.DECODE_ERROR });
    assert.deepEqual(m.registers.read(2n, 4, SEC), { value: 0n, result: MemTxResult.DECODE_ERROR });
    assert.deepEqual(m.registers.read(0n, 8, SEC), { value: 0n, result: MemTxResult.DECODE_ERROR });
    assert.equal(m.registers.write(BigInt(CTRL), 8, 0n, SEC), MemTxResult.DECODE_ERROR);
    assert.equal(m.ctrl, 0x100);
    assert.ok(m.log.some((e) => e.kind === 'invalid-mem' && /reason: unaligned/.test(e.message)));
    assert.ok(m.log.some((e) => e.kind === 'invalid-mem' && /invalid size \(min:1 max:4\)/.test(e.message)));
  });

  it('logs and ignores unknown offsets and writes to read-only registers', () => {
    const { m } = mpcOf();
    assert.equal(rd(m, 0x04), 0);
    assert.equal(rd(m, 0x38), 0);
    wr(m, 0x38, 0xffffffff);
    wr(m, BLK_MAX, 7);
    wr(m, BLK_CFG, 7);
    wr(m, INT_STAT, 1);
    wr(m, INT_INFO1, 0x1234);
    wr(m, 0xfd0, 0xff);
    assert.equal(rd(m, BLK_MAX), 1);
    assert.equal(rd(m, BLK_CFG), 5);
    assert.equal(rd(m, INT_STAT), 0);
    assert.equal(rd(m, INT_INFO1), 0);
    assert.equal(rd(m, 0xfd0), 4);
    const msgs = m.log.map((e) => e.message);
    assert.ok(msgs.includes('TZ MPC register read: bad offset 0x4'));
    assert.ok(msgs.includes('TZ MPC register write: bad offset 0x38'));
    assert.ok(msgs.includes('TZ MPC register write: bad offset 0x10'));
    assert.ok(msgs.includes('TZ MPC register write: bad offset 0x20'));
    assert.ok(msgs.includes('TZ MPC register write: read-only offset 0xfd0'));
  });

  it('is reachable through performAccess as an MMIO region', () => {
    const { m } = mpcOf();
    const root = new ContainerRegion('sys', 1n << 32n);
    root.addSubregion(m.registerRegion, 0x58007000n);
    const sys = new AddressSpace('system', root);
    const r = performAccess({ as: sys, addr: 0x58007000n + BigInt(BLK_MAX), op: 'read', size: 4, attrs: SEC });
    assert.equal(r.result, MemTxResult.OK);
    assert.equal(r.value, 1n);
    const w = performAccess({ as: sys, addr: 0x58007000n, op: 'write', size: 4, attrs: SEC, value: 0x10n });
    assert.equal(w.result, MemTxResult.OK);
    assert.equal(m.ctrl, 0x10);
  });
});

describe('tz-mpc: LUT notifications', () => {
  it('sends UNMAP S, UNMAP NS, MAP S, MAP NS per changed bit, in ascending bit order', () => {
    const { m } = mpcOf();
    const log: Seen[] = [];
    m.region.registerNotifier(recorder('S', TZ_MPC_IDX_S, log));
    m.region.registerNotifier(recorder('NS', TZ_MPC_IDX_NS, log));
    wr(m, CTRL, 0); // no AUTOINC: stay on word 0
    wr(m, BLK_LUT, 0x5); // bits 0 and 2 become non-secure
    assert.deepEqual(log, [
      // QEMU reuses one event whose target_as is only set for MAPs: NULL on the first UNMAPs...
      seen('S', U, 0n, null),
      seen('NS', U, 0n, null),
      seen('S', M, 0n, BLOCKED),
      seen('NS', M, 0n, DOWN),
      // ...and the previous bit's NS target afterwards.
      seen('S', U, 0x800n, DOWN),
      seen('NS', U, 0x800n, DOWN),
      seen('S', M, 0x800n, BLOCKED),
      seen('NS', M, 0x800n, DOWN),
    ]);
    log.length = 0;
    wr(m, BLK_LUT, 0x4); // bit 0 back to secure
    assert.deepEqual(log, [seen('S', U, 0n, null), seen('NS', U, 0n, null), seen('S', M, 0n, DOWN), seen('NS', M, 0n, BLOCKED)]);
    log.length = 0;
    wr(m, BLK_LUT, 0x4); // no change, no events
    assert.equal(log.length, 0);
    wr(m, BLK_IDX, 1);
    wr(m, BLK_LUT, 0x80000001); // blocks 32 and 63
    assert.deepEqual(
      log.map((e) => [e.who, e.type, e.iova, e.target]),
      [
        ['S', U, 0x8000n, null], ['NS', U, 0x8000n, null], ['S', M, 0x8000n, BLOCKED], ['NS', M, 0x8000n, DOWN],
        ['S', U, 0xfc00n, DOWN], ['NS', U, 0xfc00n, DOWN], ['S', M, 0xfc00n, BLOCKED], ['NS', M, 0xfc00n, DOWN],
      ],
    );
  });

  it('notifies before storing: a notifier that translates sees the old mapping', () => {
    const { m } = mpcOf();
    const inside: Array<[string, number, string | undefined, bigint]> = [];
    const n = (idx: number): IOMMUNotifier => ({
      name: `n${idx}`,
      owner: 'test',
      flags: IOMMU_NOTIFIER_IOTLB_EVENTS,
      start: 0n,
      end: HWADDR_MAX,
      iommuIdx: idx,
      notify: (_n, ev) => {
        const now = m.region.translate(ev.entry.iova, IOMMU_NONE, idx);
        inside.push([ev.type === U ? 'UNMAP' : 'MAP', idx, now.targetAs?.name, m.lut[0]!]);
      },
    });
    m.region.registerNotifier(n(TZ_MPC_IDX_S));
    m.region.registerNotifier(n(TZ_MPC_IDX_NS));
    wr(m, BLK_LUT, 0x2);
    assert.deepEqual(inside, [
      ['UNMAP', 0, DOWN, 0n],
      ['UNMAP', 1, BLOCKED, 0n],
      ['MAP', 0, DOWN, 0n],
      ['MAP', 1, BLOCKED, 0n],
    ]);
    assert.equal(m.region.translate(0x400n, IOMMU_NONE, TZ_MPC_IDX_S).targetAs, m.blockedAs);
    assert.deepEqual(m.lut, [2n, 0n]);
  });

  it('delivers by index, flags and range', () => {
    const { m } = mpcOf();
    const log: Seen[] = [];
    m.region.registerNotifier(recorder('ns-only', TZ_MPC_IDX_NS, log));
    m.region.registerNotifier(recorder('s-map', TZ_MPC_IDX_S, log, IOMMU_NOTIFIER_MAP));
    m.region.registerNotifier(recorder('s-unmap', TZ_MPC_IDX_S, log, IOMMU_NOTIFIER_UNMAP));
    m.region.registerNotifier(recorder('ns-block2', TZ_MPC_IDX_NS, log, IOMMU_NOTIFIER_IOTLB_EVENTS, 0x800n, 0xbffn));
    assert.equal(m.region.iommuNotifyFlags, IOMMU_NOTIFIER_IOTLB_EVENTS);
    wr(m, BLK_LUT, 0x5);
    const by = (who: string) => log.filter((e) => e.who === who).map((e) => [e.type, e.iova, e.target]);
    assert.deepEqual(by('ns-only'), [[U, 0n, null], [M, 0n, DOWN], [U, 0x800n, DOWN], [M, 0x800n, DOWN]]);
    assert.deepEqual(by('s-map'), [[M, 0n, BLOCKED], [M, 0x800n, BLOCKED]]);
    assert.deepEqual(by('s-unmap'), [[U, 0n, null], [U, 0x800n, DOWN]]);
    assert.deepEqual(by('ns-block2'), [[U, 0x800n, DOWN], [M, 0x800n, DOWN]]);
  });

  it('notifies blocks past the end of the region for the high bits of the last word, as QEMU does', () => {
    const { m } = mpcOf({ size: 40n * KiB }); // 40 blocks, 2 words: bits 8..31 of word 1 are past the end
    const all: Seen[] = [];
    const inRegion: Seen[] = [];
    m.region.registerNotifier(recorder('all', TZ_MPC_IDX_NS, all));
    m.region.registerNotifier(recorder('region', TZ_MPC_IDX_NS, inRegion, IOMMU_NOTIFIER_IOTLB_EVENTS, 0n, 40n * KiB - 1n));
    wr(m, BLK_IDX, 1);
    wr(m, BLK_LUT, 0xffffffff);
    assert.equal(all.length, 64);
    assert.equal(all[all.length - 1]!.iova, 63n * KiB);
    assert.equal(inRegion.length, 16);
    assert.equal(inRegion[inRegion.length - 1]!.iova, 39n * KiB);
  });

  it('the default replay maps every block to the side its LUT bit picks', () => {
    const { m } = mpcOf({ size: 8n * KiB, lut: [0xa5n] }); // blocks 0, 2, 5, 7 non-secure
    for (const idx of [TZ_MPC_IDX_S, TZ_MPC_IDX_NS]) {
      const log: Seen[] = [];
      const n = recorder(`r${idx}`, idx, log);
      const res = m.region.replay(n);
      assert.deepEqual(res, { kind: 'default', steps: 8, delivered: 8 });
      const ns = [true, false, true, false, false, true, false, true];
      assert.deepEqual(
        log,
        ns.map((isNs, b) => seen(`r${idx}`, M, BigInt(b) * KiB, isNs === (idx === TZ_MPC_IDX_NS) ? DOWN : BLOCKED)),
      );
    }
  });

  it('reset restores the configured state without notifying', () => {
    const { m } = mpcOf({ lut: [0x5n], secResp: true });
    assert.equal(m.ctrl, 0x110);
    assert.deepEqual(m.lut, [5n, 0n]);
    const log: Seen[] = [];
    m.region.registerNotifier(recorder('s', TZ_MPC_IDX_S, log));
    wr(m, BLK_LUT, 0xf0);
    wr(m, BLK_LUT, 0xf);
    wr(m, INT_EN, 0);
    wr(m, INT_SET, 1);
    wr(m, CTRL, 0x80000000);
    const before = log.length;
    m.reset();
    assert.equal(log.length, before);
    assert.equal(m.ctrl, 0x110);
    assert.equal(m.blkIdx, 0);
    assert.equal(m.intStat, 0);
    assert.equal(m.intEn, 1);
    assert.equal(m.irqLevel, false);
    assert.deepEqual(m.lut, [5n, 0n]);
    // The lut accessor is a copy.
    (m.lut)[0] = 99n;
    assert.deepEqual(m.lut, [5n, 0n]);
  });
});

describe('tz-mpc: translation in a system', () => {
  function system(opts: Partial<TzMpcOptions> = {}) {
    const { m, ram } = mpcOf({ lut: [0x2n, 0x1n], source: 'mpc-node', ...opts }); // blocks 1 and 32 non-secure
    const root = new ContainerRegion('sys', 1n << 32n);
    root.addSubregion(m.region, 0n);
    const sys = new AddressSpace('system', root);
    return { m, ram, sys };
  }

  const cases: Array<[string, MemTxAttrs, bigint, 'ram' | 'blocked']> = [
    ['unspecified', MEMTXATTRS_UNSPECIFIED, 0x10n, 'ram'],
    ['secure', SEC, 0x10n, 'ram'],
    ['non-secure', NSEC, 0x10n, 'blocked'],
    ['unspecified', MEMTXATTRS_UNSPECIFIED, 0x404n, 'blocked'],
    ['secure', SEC, 0x404n, 'blocked'],
    ['non-secure', NSEC, 0x404n, 'ram'],
  ];
  for (const [what, attrs, addr, where] of cases) {
    it(`${what} attrs at 0x${addr.toString(16)} (LUT bit ${addr >= 0x400n ? 1 : 0}) land in ${where}`, () => {
      const { m, ram, sys } = system();
      const l = translateAccess({ as: sys, addr, op: 'read', attrs });
      assert.equal(l.result, MemTxResult.OK);
      assert.equal(l.region, where === 'ram' ? ram : m.blockedRegion);
      assert.equal(l.offset, addr);
      assert.equal(l.as, where === 'ram' ? m.downstreamAs : m.blockedAs);
      assert.equal(l.hops.length, 1);
      assert.equal(l.hops[0]!.iommuIdx, attrs.unspecified || attrs.secure ? 0 : 1);
      assert.equal(l.entry.addrMask, 0x3ffn);
      assert.equal(l.entry.iova, addr & ~0x3ffn);
    });
  }

  it('translate returns the block entry with perm RW whatever the flag', () => {
    const { m } = system();
    for (const flag of [IOMMU_NONE, IOMMU_RO, IOMMU_RW]) {
      const e = m.region.translate(0x7ffn, flag, TZ_MPC_IDX_S);
      assert.deepEqual(e, { targetAs: m.blockedAs, iova: 0x400n, translatedAddr: 0x400n, addrMask: 0x3ffn, perm: IOMMU_RW });
    }
    assert.equal(m.region.attrsToIndex(MEMTXATTRS_UNSPECIFIED), TZ_MPC_IDX_S);
    assert.equal(m.region.attrsToIndex(SEC), TZ_MPC_IDX_S);
    assert.equal(m.region.attrsToIndex(NSEC), TZ_MPC_IDX_NS);
    assert.equal(m.region.attrsToIndex({ secure: false, requesterId: 1 }), TZ_MPC_IDX_NS);
    assert.equal(m.region.indexName(0), 'S');
    assert.equal(m.region.indexName(1), 'NS');
    assert.equal(m.region.indexSelector(0), 'secure or unspecified attributes');
    assert.equal(m.region.indexSelector(1), 'non-secure attributes');
  });

  it('traces the LUT lookup as a model step', () => {
    const { sys } = system();
    const trace: Trace = [];
    translateAccess({ as: sys, addr: 0x404n, op: 'write', attrs: SEC, trace });
    assert.deepEqual(
      trace.map((s) => s.kind),
      ['as-lookup', 'attrs-to-index', 'model', 'iotlb-entry', 'perm-check', 'compose', 'hop', 'as-lookup', 'land'],
    );
    const step = trace.find((s) => s.kind === 'model')!;
    assert.equal(step.fields.block, 1);
    assert.equal(step.name, 'BLK_LUT lookup');
    assert.equal(step.fields.BLK_IDX, 0);
    assert.equal(step.fields.bit, 1);
    assert.equal(step.fields.NS, 1);
    assert.equal(step.fields.indexName, 'S');
    assert.equal(step.fields.result, 'block');
    assert.equal(step.fields.targetAs, BLOCKED);
    assert.deepEqual(step.source, { kind: 'config', id: 'mpc-node' });
    assert.match(step.summary, /block 1 .*LUT word 0 bit 1/);
  });

  it("points the model step at the LUT word's config source when given", () => {
    const { m } = system({ lutSourceIds: ['lut-w0', 'lut-w1'] });
    const trace: Trace = [];
    m.region.translate(0x8000n + 5n, IOMMU_RO, TZ_MPC_IDX_NS, trace);
    assert.equal(trace.length, 1);
    assert.deepEqual(trace[0]!.source, { kind: 'config', id: 'lut-w1' });
    assert.equal(trace[0]!.fields.block, 32);
    assert.equal(trace[0]!.fields.result, 'pass');
  });
});

describe('tz-mpc: blocked accesses', () => {
  function system(opts: Partial<TzMpcOptions> = {}) {
    const levels: boolean[] = [];
    const { m, ram } = mpcOf({ lut: [0x2n], onIrq: (l) => levels.push(l), ...opts });
    const root = new ContainerRegion('sys', 1n << 32n);
    root.addSubregion(m.region, 0n);
    const sys = new AddressSpace('system', root);
    return { m, ram, sys, levels };
  }

  it('reads zero, latches INT_INFO1/2 once, raises the irq, and INT_CLEAR re-arms', () => {
    const { m, sys, levels } = system();
    // Put data in RAM through a permitted path, to see the blocked read hide it.
    assert.equal(performAccess({ as: sys, addr: 0x20n, op: 'write', size: 4, attrs: SEC, value: 0xdeadbeefn }).result, MemTxResult.OK);
    assert.equal(performAccess({ as: sys, addr: 0x20n, op: 'read', size: 4, attrs: SEC }).value, 0xdeadbeefn);
    assert.equal(m.intStat, 0);

    const r = performAccess({ as: sys, addr: 0x20n, op: 'read', size: 4, attrs: { secure: false, requesterId: 0x1234 } });
    assert.equal(r.landing.region, m.blockedRegion);
    assert.equal(r.result, MemTxResult.OK, 'RAZ/WI without SEC_RESP');
    assert.equal(r.value, 0n);
    assert.equal(rd(m, INT_STAT), 1);
    assert.equal(rd(m, INT_INFO1), 0x20);
    assert.equal(rd(m, INT_INFO2), 0x11234); // HMASTER 0x1234, HNONSEC, CFG_NS 0
    assert.equal(m.irqLevel, true);
    assert.deepEqual(levels, [true]);

    // A second blocked access is still blocked but not captured.
    const w = performAccess({ as: sys, addr: 0x408n, op: 'write', size: 2, attrs: { secure: true, requesterId: 7 }, value: 1n });
    assert.equal(w.result, MemTxResult.OK);
    assert.equal(rd(m, INT_INFO1), 0x20);
    assert.equal(rd(m, INT_INFO2), 0x11234);
    assert.equal(performAccess({ as: sys, addr: 0x408n, op: 'read', size: 2, attrs: NSEC }).value, 0n, 'the blocked write did not reach RAM');

    wr(m, INT_CLEAR, 1);
    assert.equal(m.intStat, 0);
    assert.equal(m.irqLevel, false);
    performAccess({ as: sys, addr: 0x408n, op: 'write', size: 4, attrs: { secure: true, requesterId: 0xabcd }, value: 1n });
    assert.equal(rd(m, INT_INFO1), 0x408);
    assert.equal(rd(m, INT_INFO2), 0x2abcd); // HMASTER 0xabcd, HNONSEC 0, CFG_NS 1
    assert.deepEqual(levels, [true, false, true]);
  });

  it('latches HNONSEC = 1 for unspecified attributes, which QEMU translates as secure', () => {
    const { m, sys } = system();
    const r = performAccess({ as: sys, addr: 0x7fcn, op: 'read', size: 4, attrs: MEMTXATTRS_UNSPECIFIED });
    assert.equal(r.landing.hops[0]!.iommuIdx, TZ_MPC_IDX_S);
    assert.equal(r.landing.region, m.blockedRegion);
    assert.equal(m.intInfo1, 0x7fc);
    assert.equal(m.intInfo2, 0x30000); // requester 0, HNONSEC 1, CFG_NS 1
  });

  it('drives the irq only while INT_EN is set', () => {
    const { m, sys, levels } = system();
    wr(m, INT_EN, 0);
    performAccess({ as: sys, addr: 0n, op: 'read', size: 1, attrs: NSEC });
    assert.equal(m.intStat, 1);
    assert.equal(m.irqLevel, false);
    wr(m, INT_EN, 1);
    assert.equal(m.irqLevel, true);
    wr(m, INT_CLEAR, 1);
    wr(m, INT_SET, 1);
    assert.equal(m.irqLevel, true);
    assert.deepEqual(levels, [false, false, true, false, true]);
  });

  it('gives a bus error with SEC_RESP', () => {
    const { m, sys } = system();
    wr(m, CTRL, 0x10);
    const r = performAccess({ as: sys, addr: 0x400n, op: 'read', size: 8, attrs: SEC });
    assert.equal(r.result, MemTxResult.ERROR);
    assert.equal(r.value, 0n);
    assert.equal(performAccess({ as: sys, addr: 0x0n, op: 'write', size: 4, attrs: NSEC, value: 5n }).result, MemTxResult.ERROR);
    assert.equal(performAccess({ as: sys, addr: 0x0n, op: 'write', size: 4, attrs: SEC, value: 5n }).result, MemTxResult.OK);
    const s = mpcOf({ secResp: true }).m;
    assert.equal(s.secResp, true);
  });

  it('refuses an unaligned access to the blocked region before the model sees it', () => {
    const { m, sys } = system();
    const r = performAccess({ as: sys, addr: 0x21n, op: 'read', size: 2, attrs: NSEC });
    assert.equal(r.result, MemTxResult.DECODE_ERROR);
    assert.equal(m.intStat, 0);
  });
});

describe('tz-mpc: notifier shadows (property)', () => {
  type Op =
    | { op: 'idx'; v: number }
    | { op: 'lut'; v: number }
    | { op: 'lut8'; v: number; byte: number }
    | { op: 'lut16'; v: number; half: number }
    | { op: 'lutread' }
    | { op: 'ctrl'; autoinc: boolean };

  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('idx' as const), v: fc.nat({ max: 0xffffffff }) }),
    fc.record({ op: fc.constant('lut' as const), v: fc.nat({ max: 0xffffffff }) }),
    fc.record({ op: fc.constant('lut' as const), v: fc.constantFrom(0, 0xffffffff, 1, 0x80000000) }),
    fc.record({ op: fc.constant('lut8' as const), v: fc.nat({ max: 0xff }), byte: fc.nat({ max: 3 }) }),
    fc.record({ op: fc.constant('lut16' as const), v: fc.nat({ max: 0xffff }), half: fc.nat({ max: 1 }) }),
    fc.record({ op: fc.constant('lutread' as const) }),
    fc.record({ op: fc.constant('ctrl' as const), autoinc: fc.boolean() }),
  );

  it('a shadow built from replay plus every event equals translate() for every block, both indexes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(8, 40, 64, 100),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 4 }),
        fc.array(opArb, { maxLength: 40 }),
        (blocks, initial, ops) => {
          const size = BigInt(blocks) * KiB;
          const words = Math.ceil(blocks / 32);
          const { m } = mpcOf({ size, lut: initial.slice(0, words).map(BigInt) });
          const shadows = [new Map<bigint, string>(), new Map<bigint, string>()];
          for (const idx of [TZ_MPC_IDX_S, TZ_MPC_IDX_NS]) {
            const shadow = shadows[idx]!;
            const n: IOMMUNotifier = {
              name: `shadow${idx}`,
              owner: 'test',
              flags: IOMMU_NOTIFIER_IOTLB_EVENTS,
              start: 0n,
              end: size - 1n,
              iommuIdx: idx,
              notify: (_n, ev) => {
                // As vfio would need it: a MAP only where nothing is mapped, an UNMAP only where
                // something is.
                assert.equal(ev.entry.addrMask, 0x3ffn);
                if (ev.type === M) {
                  assert.ok(!shadow.has(ev.entry.iova), `MAP over a live mapping at ${ev.entry.iova}`);
                  shadow.set(ev.entry.iova, ev.entry.targetAs!.name);
                } else {
                  assert.ok(shadow.delete(ev.entry.iova), `UNMAP of nothing at ${ev.entry.iova}`);
                }
              },
            };
            m.region.replay(n);
            assert.equal(m.region.registerNotifier(n), undefined);
          }
          const check = () => {
            for (const idx of [TZ_MPC_IDX_S, TZ_MPC_IDX_NS]) {
              assert.equal(shadows[idx]!.size, blocks);
              for (let b = 0; b < blocks; b++) {
                const a = BigInt(b) * KiB;
                assert.equal(shadows[idx]!.get(a), m.region.translate(a, IOMMU_NONE, idx).targetAs!.name, `idx ${idx} block ${b}`);
              }
            }
          };
          check();
          for (const o of ops) {
            switch (o.op) {
              case 'idx': wr(m, BLK_IDX, o.v); break;
              case 'lut': wr(m, BLK_LUT, o.v); break;
              case 'lut8': wr(m, BLK_LUT + o.byte, o.v, 1); break;
              case 'lut16': wr(m, BLK_LUT + 2 * o.half, o.v, 2); break;
              case 'lutread': rd(m, BLK_LUT); break;
              case 'ctrl': wr(m, CTRL, o.autoinc ? 0x100 : 0); break;
            }
            check();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

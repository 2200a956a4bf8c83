/**
 * Restoring the invalidation queue's position from a config (what an attach to a live QEMU
 * writes): IQH, read-only to a driver, is taken before GCMD.QIE as QEMU's migration state takes
 * iq_head (vtd_vmstate), so that enabling the queue with IQT equal to it runs nothing again, and a
 * later descriptor at the tail runs as QEMU would run it.
 */
import assert from 'node:assert/strict';
import { MEMTXATTRS_UNSPECIFIED } from '../../src/engine/attrs';
import { DMAR_IQH_REG, DMAR_IQT_REG, VTD_GCMD_QIE } from '../../src/engine/models/intel-iommu';
import { QUEUE, program, r64, rig, w64 } from './intel-iommu-helpers';

const STATUS = 0x4_0000n;

/** A wait descriptor writing `data` to STATUS (VT-d 6.5.2.8: type 5, SW, status data in bits 63:32). */
const wait = (data: bigint): [bigint, bigint] => [0x25n | (data << 32n), STATUS];

describe('intel-iommu: restoring the invalidation queue (iqh)', () => {
  it('enables the queue at the restored head without running what lies before it', () => {
    const r = rig({ profile: 'qemu-7.2' });
    // Descriptors 0..2 are old waits; QEMU has processed them (IQH = IQT = 3 descriptors).
    for (let i = 0n; i < 3n; i++) {
      const [lo, hi] = wait(0x100n + i);
      w64(r, QUEUE + 16n * i, lo);
      w64(r, QUEUE + 16n * i + 8n, hi);
    }
    program(r, [
      { reg: 'IQA', value: QUEUE },
      { reg: 'IQH', value: 0x30n },
      { reg: 'IQT', value: 0x30n },
      { reg: 'GCMD', value: BigInt(VTD_GCMD_QIE) },
    ]);
    const q = r.iommu.queue;
    assert.deepEqual([q.enabled, q.head, q.tail, q.size], [true, 3, 3, 256]);
    assert.equal(r64(r, STATUS), 0n, 'no old descriptor ran');
    assert.equal(r.iommu.regs.read(BigInt(DMAR_IQH_REG), 8, MEMTXATTRS_UNSPECIFIED).value, 0x30n);
    // The next descriptor, at index 3, runs when IQT moves past it.
    const [lo, hi] = wait(0x600dn);
    w64(r, QUEUE + 0x30n, lo);
    w64(r, QUEUE + 0x38n, hi);
    r.iommu.regs.write(BigInt(DMAR_IQT_REG), 8, 0x40n, MEMTXATTRS_UNSPECIFIED);
    assert.equal(r64(r, STATUS), 0x600dn);
    assert.equal(r.iommu.regs.read(BigInt(DMAR_IQH_REG), 8, MEMTXATTRS_UNSPECIFIED).value, 0x40n);
  });

  it('without the restore, the same writes run the old descriptors again (the reason it exists)', () => {
    const r = rig({ profile: 'qemu-7.2' });
    const [lo, hi] = wait(0x101n);
    w64(r, QUEUE, lo);
    w64(r, QUEUE + 8n, hi);
    program(r, [
      { reg: 'IQA', value: QUEUE },
      { reg: 'IQT', value: 0x10n },
      { reg: 'GCMD', value: BigInt(VTD_GCMD_QIE) },
    ]);
    assert.equal(r64(r, STATUS), 0x101n);
  });

  it('refuses IQH once the queue is enabled', () => {
    const r = rig();
    program(r, [{ reg: 'IQA', value: QUEUE }, { reg: 'GCMD', value: BigInt(VTD_GCMD_QIE) }]);
    const e = r.iommu.program([{ reg: 'IQH', value: 0x20n }]);
    assert.equal(e?.message, 'intel-iommu dmar0: IQH can be restored only while the invalidation queue is disabled (before GCMD.QIE)');
    assert.equal(r.iommu.queue.head, 0);
  });
});

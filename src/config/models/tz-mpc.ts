/** Config builder for the TrustZone MPC (hw/misc/tz-mpc.c). */
import { isEngineError, MemTxResult, type IommuDevice } from '../../engine';
import { A_CTRL, A_INT_EN, R_CTRL_AUTOINC_MASK, R_CTRL_LOCKDOWN_MASK, R_CTRL_SEC_RESP_MASK, TzMpc } from '../../engine/models/tz-mpc';
import { list, obj, type BuildContext } from '../context';
import type { Path } from '../document';

const SECURE = { secure: true } as const;

export function buildTzMpc(ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path): IommuDevice | undefined {
  const downstream = ctx.region(spec.downstream, [...path, 'downstream'], `for ${name}'s downstream`);
  const blockSize = ctx.num(spec['block-size'], [...path, 'block-size']);
  const lutWords = list(spec.lut);
  const lut: bigint[] = [];
  lutWords.forEach((w, i) => {
    const v = ctx.num(w, [...path, 'lut', i], undefined, 1n << 32n);
    lut.push(v ?? 0n);
  });
  if (!downstream) return undefined;
  const ctrl = obj(spec.ctrl) ?? {};
  const mpc = TzMpc.create({
    name,
    downstream,
    blockSize,
    secResp: ctrl['sec-resp'] === 'bus-error',
    lut,
    lutSourceIds: lutWords.map((_, i) => ctx.id([...path, 'lut', i])),
    source: ctx.id(path),
  });
  if (isEngineError(mpc)) {
    const where: Record<string, [string, Path]> = {
      'tz-mpc-block-size': ['bad-block-size', [...path, 'block-size']],
      'tz-mpc-downstream-size': ['size-alignment', [...path, 'downstream']],
      'tz-mpc-too-many-blocks': ['size-alignment', [...path, 'block-size']],
      'tz-mpc-lut-words': ['bad-value', [...path, 'lut']],
      'tz-mpc-lut-value': ['number-range', [...path, 'lut']],
    };
    const [code, at] = where[mpc.code] ?? [mpc.code, path];
    ctx.error(code, at, mpc.message);
    return undefined;
  }
  // Initial CTRL and INT_EN are written as secure firmware would, LOCKDOWN last.
  let ctrlValue = BigInt(mpc.ctrl);
  if (ctrl.autoinc === true) ctrlValue |= BigInt(R_CTRL_AUTOINC_MASK);
  if (ctrl.autoinc === false) ctrlValue &= ~BigInt(R_CTRL_AUTOINC_MASK);
  if (ctrl['sec-resp'] === 'bus-error') ctrlValue |= BigInt(R_CTRL_SEC_RESP_MASK);
  if (spec['int-en'] === false) mpc.registers.write(BigInt(A_INT_EN), 4, 0n, SECURE);
  if (mpc.registers.write(BigInt(A_CTRL), 4, ctrlValue, SECURE) !== MemTxResult.OK) {
    ctx.error('register-write', [...path, 'ctrl'], `${name}: CTRL could not be written`);
  }
  if (ctrl.lockdown === true) mpc.registers.write(BigInt(A_CTRL), 4, ctrlValue | BigInt(R_CTRL_LOCKDOWN_MASK), SECURE);
  return mpc;
}

/**
 * The SMMU's wired interrupts (QEMU's SMMUIrq: EVTQ, PRIQ, CMD_SYNC, GERROR) and
 * smmuv3_trigger_irq: GERROR bits toggle only when not already pending, and a line pulses only
 * when IRQ_CTRL enables it (CMD_SYNC always pulses). The model has no MSIs (IDR0.MSI = 0).
 */
import { IRQ_CTRL_EVENTQ_IRQEN, IRQ_CTRL_GERROR_IRQEN, type Smmuv3Registers } from './registers';

export type Smmuv3IrqLine = 'eventq' | 'priq' | 'cmd-sync' | 'gerror';

export interface IrqPulse {
  readonly line: Smmuv3IrqLine;
  /** GERROR after the toggle, for gerror pulses. */
  readonly gerror?: number;
}

const LOG_LIMIT = 256;

export class Smmuv3Irqs {
  readonly log: IrqPulse[] = [];

  constructor(
    private readonly regs: Smmuv3Registers,
    private readonly onIrq?: (p: IrqPulse) => void,
  ) {}

  /** smmuv3_trigger_irq. Returns whether the line pulsed. */
  trigger(line: Smmuv3IrqLine, gerrorMask = 0): boolean {
    let pulse = false;
    switch (line) {
      case 'eventq':
        pulse = (this.regs.irqCtrl & IRQ_CTRL_EVENTQ_IRQEN) !== 0;
        break;
      case 'priq':
        break;
      case 'cmd-sync':
        pulse = true;
        break;
      case 'gerror': {
        const fresh = ~this.regs.gerrorPending & gerrorMask;
        if (!fresh) return false;
        this.regs.gerror = (this.regs.gerror ^ fresh) >>> 0;
        pulse = (this.regs.irqCtrl & IRQ_CTRL_GERROR_IRQEN) !== 0;
        break;
      }
    }
    if (!pulse) return false;
    const p: IrqPulse = line === 'gerror' ? { line, gerror: this.regs.gerror } : { line };
    this.log.push(p);
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
    this.onIrq?.(p);
    return true;
  }
}

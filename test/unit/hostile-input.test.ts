/**
 * Regression tests for the eight ways hostile input broke the loader, the views and the engine
 * (issue 15): each test failed before its fix, by an exception, a wrong diagnostic, or (for the
 * hangs) by running far past mocha's timeout. Sizes are those the issue measured, or larger.
 */
import assert from 'node:assert/strict';
import type { Diagnostic } from '../../src/config/diagnostics';
import { loadConfig } from '../../src/config/load';
import { IOMMU_BUILDERS } from '../../src/config/models';
import { parseConfigNumber, splitNumber } from '../../src/config/numbers';
import { closest, editDistance } from '../../src/config/validate';
import { ContainerRegion, MemTxResult, RamRegion, SparseMemory, renderFlatView } from '../../src/engine';
import { runCli } from '../../src/cli/program';
import { treeReport, translateReport } from '../../src/cli/reports';
import { regionViews } from '../../src/views/views';

function show(d: Diagnostic): string {
  return `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.severity} ${d.code} ${d.message}`;
}

const SMMU_IN_ITS_OWN_WALK_MEMORY = `iommu-lens: 1
iommus:
  smmu0: { model: smmuv3, walk-memory: sys, registers: { strtab-base-cfg: 0x6, cr0: 1 } }
address-spaces:
  sys:
    - { at: 0, region: smmu0 }
devices:
  edu0: { kind: pci, bdf: "00:02.0", iommu: smmu0 }
`;

describe('hostile input (issue 15)', function () {
  this.timeout(10_000);

  describe('1. translation loops', () => {
    it('an SMMUv3 whose walk memory holds itself: a diagnostic, and translate and tree fault instead of overflowing the stack', () => {
      const cfg = loadConfig('loop.iommu.yaml', SMMU_IN_ITS_OWN_WALK_MEMORY);
      assert.deepEqual(cfg.diagnostics.filter((d) => d.code === 'translation-loop').map(show), [
        '3:40 error translation-loop smmu0 reads its tables from sys, which places smmu0 itself at 0x0: every table read would be translated by smmu0 again (QEMU would recurse for ever)',
      ]);
      assert.doesNotThrow(() => translateReport(cfg, { from: 'edu0', addr: 0x1000n }, true));
      assert.doesNotThrow(() => treeReport(cfg, 16));
      assert.doesNotThrow(() => regionViews(cfg));
    });

    it('a loop that depends on the tables faults with reason "loop" and says so', async () => {
      const { translateAccess } = await import('../../src/engine/translate');
      const cfg = loadConfig('loop.iommu.yaml', SMMU_IN_ITS_OWN_WALK_MEMORY);
      const dev = cfg.machine.devices.get('edu0')!;
      const landing = translateAccess({ as: dev.as, addr: 0x1000n, op: 'read', attrs: dev.attrs });
      assert.equal(landing.result, MemTxResult.DECODE_ERROR);
      assert.equal(landing.fault?.reason, 'loop');
      assert.match(landing.fault.message, /a translation loop: .*\(QEMU would recurse for ever\)$/);
    });
  });

  describe('2. names that are Object.prototype keys', () => {
    for (const model of ['constructor', 'hasOwnProperty', '__proto__', 'toString']) {
      it(`model: ${model} is an unknown model at the value, and the rest is built`, () => {
        const cfg = loadConfig('p.iommu.yaml', `iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: 4KiB }\niommus:\n  x: { model: ${model} }\n`);
        assert.deepEqual(cfg.diagnostics.map(show), [`5:15 error bad-value unknown model "${model}" (expected one of: ${Object.keys(IOMMU_BUILDERS).join(', ')})`]);
        assert.ok(cfg.machine.regions.has('ram'));
        assert.doesNotThrow(() => treeReport(cfg, 16));
      });
    }

    it('memory: { __proto__: ... } defines a region named __proto__', () => {
      const cfg = loadConfig('p.iommu.yaml', 'iommu-lens: 1\nmemory:\n  __proto__: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0, region: __proto__ }\n');
      assert.deepEqual(cfg.diagnostics.map(show), []);
      assert.deepEqual([...cfg.machine.regions.keys()], ['__proto__']);
      assert.equal(cfg.machine.addressSpaces.get('system')!.flatView()[0]!.region.name, '__proto__');
    });

    it('the schema checks an entry named __proto__ as it checks any other, in YAML and in JSON', () => {
      // A region of that name with a size of the wrong type, an IOMMU of that name with no index.
      const body = (name: string): unknown => ({ 'iommu-lens': 1, memory: { [name]: { kind: 'ram', size: true } }, iommus: { [name]: { model: 'table', size: 4096, 'page-size': '4KiB', indexes: [] } } });
      // (A computed key is an own property, so `__proto__` is written out as a key.)
      const other = loadConfig('p.iommu.json', JSON.stringify(body('r0')));
      const proto = loadConfig('p.iommu.json', JSON.stringify(body('__proto__')));
      const yaml = loadConfig('p.iommu.yaml', 'iommu-lens: 1\nmemory:\n  __proto__: { kind: ram, size: true }\niommus:\n  __proto__: { model: table, size: 4096, page-size: 4KiB, indexes: [] }\n');
      const said = (cfg: ReturnType<typeof loadConfig>) => cfg.diagnostics.map((d) => `${d.code} ${d.message}`);
      assert.deepEqual(said(other), ['wrong-type expected a number (an integer, or a string such as "0x1000_0000" or "4KiB"), got true', 'bad-value iommus.r0.indexes: expected at least 1 item, got 0']);
      assert.deepEqual(said(proto), said(other).map((m) => m.replace('r0', '__proto__')));
      assert.deepEqual(said(yaml), said(proto));
    });

    it('perm and flags named after Object.prototype keys are refused, not looked up', () => {
      const cfg = loadConfig(
        'p.iommu.yaml',
        'iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0, region: ram }\niommus:\n  t:\n    model: table\n    size: 64KiB\n    page-size: 4KiB\n    indexes:\n      - { name: k, default: true, mappings: [ { iova: 0, size: 4KiB, target: system, addr: 0, perm: constructor } ] }\nnotifiers:\n  n: { region: t, index: 0, flags: [toString] }\n',
      );
      assert.ok(!cfg.diagnostics.some((d) => d.code === 'internal-error'), cfg.diagnostics.map(show).join('\n'));
      assert.ok(cfg.diagnostics.some((d) => d.message.includes('"constructor"')), cfg.diagnostics.map(show).join('\n'));
    });
  });

  describe('3. containers that reach each other', () => {
    it('two containers placing each other twice: a cycle diagnostic and a finite tree', () => {
      const cfg = loadConfig(
        'c.iommu.yaml',
        'iommu-lens: 1\nmemory:\n  a: { kind: container, size: 4KiB, subregions: [ { at: 0, region: b }, { at: 0, region: b, priority: 1 } ] }\n  b: { kind: container, size: 4KiB, subregions: [ { at: 0, region: a }, { at: 0, region: a, priority: 1 } ] }\naddress-spaces:\n  system:\n    - { at: 0, region: a }\n',
      );
      assert.ok(cfg.diagnostics.some((d) => d.code === 'entry-cycle' && d.message.includes('a -> b -> a')), cfg.diagnostics.map(show).join('\n'));
      assert.doesNotThrow(() => treeReport(cfg, 16));
      assert.deepEqual(cfg.machine.addressSpaces.get('system')!.flatView(), []);
    });

    it('one placement each: the cycle is reported, not accepted silently', () => {
      const cfg = loadConfig(
        'c.iommu.yaml',
        'iommu-lens: 1\nmemory:\n  a: { kind: container, size: 4KiB, subregions: [ { at: 0, region: b } ] }\n  b: { kind: container, size: 4KiB, subregions: [ { at: 0, region: a } ] }\naddress-spaces:\n  system:\n    - { at: 0, region: a }\n',
      );
      assert.deepEqual(cfg.diagnostics.map((d) => d.code), ['entry-cycle']);
    });

    it('a 40-deep chain of containers each placing the next twice at the same place renders in one pass', () => {
      let text = 'iommu-lens: 1\nmemory:\n  c40: { kind: ram, size: 4KiB }\n';
      for (let i = 39; i >= 0; i--) text += `  c${i}: { kind: container, size: 4KiB, subregions: [ { at: 0, region: c${i + 1} }, { at: 0, region: c${i + 1}, priority: 1 } ] }\n`;
      text += 'address-spaces:\n  system:\n    - { at: 0, region: c0 }\n';
      const cfg = loadConfig('c.iommu.yaml', text);
      assert.deepEqual(cfg.diagnostics.map(show), []);
      const view = cfg.machine.addressSpaces.get('system')!.flatView();
      assert.deepEqual(view.map((r) => [r.region.name, r.start, r.end]), [['c40', 0n, 0x1000n]]);
    });

    it('a 40-deep chain that doubles the view at every level stops at a bound and says so', () => {
      let text = 'iommu-lens: 1\nmemory:\n  c40: { kind: ram, size: 1 }\n';
      for (let i = 39; i >= 0; i--) {
        const size = 1n << BigInt(40 - i);
        text += `  c${i}: { kind: container, size: 0x${size.toString(16)}, subregions: [ { at: 0, region: c${i + 1} }, { at: 0x${(size / 2n).toString(16)}, region: c${i + 1} } ] }\n`;
      }
      text += 'address-spaces:\n  system:\n    - { at: 0, region: c0 }\n';
      const cfg = loadConfig('c.iommu.yaml', text);
      assert.deepEqual(cfg.diagnostics.map((d) => d.code), ['view-too-large']);
    });
  });

  describe('4. did you mean', () => {
    it('a 20,000-character unknown name gets its diagnostic without a suggestion', () => {
      const name = 'x'.repeat(20_000);
      const cfg = loadConfig('d.iommu.yaml', `iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0, region: ${name} }\n`);
      const d = cfg.diagnostics.find((x) => x.code === 'unknown-reference')!;
      assert.equal(d.fixes, undefined);
      assert.ok(d.message.length < 300, d.message.slice(0, 300));
    });

    it('the banded distance agrees with the full one within its bound', () => {
      const full = (a: string, b: string) => editDistance(a, b);
      for (const [a, b] of [['ram', 'rma'], ['system', 'sytsem'], ['kitten', 'sitting'], ['', 'abc'], ['abc', '']]) {
        const d = full(a!, b!);
        for (let max = 0; max <= 4; max++) assert.equal(editDistance(a!, b!, max), d <= max ? d : max + 1, `${a} ${b} ${max}`);
      }
      assert.equal(closest('sytsem', ['system', 'secure']), 'system');
      assert.equal(closest('x'.repeat(5000), ['x'.repeat(5000)]), undefined);
    });
  });

  describe('5. numbers', () => {
    it('"0x" + 40,000 hex digits + "!" is refused in linear time, its message shortened', () => {
      const v = '0x' + 'a'.repeat(40_000) + '!';
      const r = parseConfigNumber(v);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.code === 'bad-number' && r.message.length < 200);
      const cfg = loadConfig('n.iommu.yaml', `iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: "${v}" }\n`);
      assert.deepEqual(cfg.diagnostics.map((d) => d.code), ['bad-number']);
    });

    it('the one-pass splitter matches the regular expression it replaces', () => {
      const RE = /^\s*(0x[0-9a-f]+(?:_[0-9a-f]+)*|0b[01]+(?:_[01]+)*|0o[0-7]+(?:_[0-7]+)*|[0-9]+(?:_[0-9]+)*)\s*([a-z]+)?\s*$/i;
      const alphabet = ['0', '1', '7', '9', 'a', 'b', 'B', 'f', 'g', 'x', 'X', 'o', 'K', 'i', '_', ' ', '!', '\t'];
      let seed = 12345;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      for (let k = 0; k < 20_000; k++) {
        let s = rnd(3) === 0 ? '0' + ['x', 'b', 'o', 'X'][rnd(4)]! : '';
        for (let n = rnd(8); n > 0; n--) s += alphabet[rnd(alphabet.length)];
        const m = RE.exec(s);
        const got = splitNumber(s);
        assert.deepEqual(got, m ? { digits: m[1], unit: m[2] } : undefined, JSON.stringify(s));
      }
    });

    it('a register offset that is a fraction or negative gets the schema diagnostic alone; one past 2^64 is named exactly', () => {
      const base = 'iommu-lens: 1\nmemory:\n  ssram: { kind: ram, size: 4MiB }\niommus:\n  mpc0: { model: tz-mpc, downstream: ssram, registers: { as: system, at: 0x5800_0000 } }\naddress-spaces:\n  system:\n    - { at: 0, region: mpc0 }\nscenario:\n';
      const said = (step: string) => loadConfig('r.iommu.yaml', `${base}  - ${step}\n`).diagnostics.map(show);
      // A fraction once stopped the load with an internal error (a message formatting it as hex).
      assert.deepEqual(said('write-reg: { iommu: mpc0, reg: 1.5, value: 768 }'), ['10:36 error wrong-type scenario[0].write-reg.reg: 1.5 is not any of the accepted forms']);
      assert.deepEqual(said('expect: { iommu: mpc0, reg: 1.5, value: 1 }'), ['10:33 error wrong-type scenario[0].expect.reg: 1.5 is not any of the accepted forms']);
      // A negative one was also "no register 0x-4".
      assert.deepEqual(said('read-reg: { iommu: mpc0, reg: -4 }'), ['10:35 error wrong-type scenario[0].read-reg.reg: -4 is not any of the accepted forms']);
      const far = said('read-reg: { iommu: mpc0, reg: 18446744073709551617 }');
      assert.equal(far.length, 1);
      assert.match(far[0]!, /^10:35 error unknown-reference tz-mpc has no register 0x10000000000000001 \(registers: CTRL, /);
    });
  });

  describe('6. YAML aliases', () => {
    it('4,000 chained aliases: a positioned diagnostic at the alias where expansion passes the bound', () => {
      let text = 'iommu-lens: 1\ndescription: x\nx:\n  - &a0 [1]\n';
      for (let i = 1; i < 4000; i++) text += `  - &a${i} [*a${i - 1}]\n`;
      const cfg = loadConfig('a.iommu.yaml', text);
      const d = cfg.diagnostics.filter((x) => x.code === 'parse-error');
      assert.equal(d.length, 1);
      assert.match(d[0]!.message, /^aliases here expand to more than \d+ values/);
      assert.ok(d[0]!.range.start.line > 4 && d[0]!.range.start.line < 4004);
    });

    it('an alias inside its own anchor reads as null with a diagnostic, never a cyclic value', () => {
      const cfg = loadConfig('a.iommu.yaml', 'iommu-lens: 1\nname: &n [1, *n]\n');
      assert.deepEqual(cfg.diagnostics.filter((d) => d.code === 'parse-error').map(show), [
        '2:14 error parse-error the alias *n is inside the collection its anchor names: a value cannot contain itself',
      ]);
    });
  });

  describe('7. deep nesting', () => {
    it('lists 5,000 deep: one deterministic diagnostic in our words at the same place every time', () => {
      const text = 'iommu-lens: 1\nname: ' + '['.repeat(5000) + '\n';
      const a = loadConfig('n.iommu.yaml', text).diagnostics.map(show);
      const b = loadConfig('n.iommu.yaml', text).diagnostics.map(show);
      assert.deepEqual(a, ['2:134 error too-deep lists and mappings nest more than 128 levels deep here; a config needs far fewer, and IOMMU Lens reads no further']);
      assert.deepEqual(b, a);
    });

    it('block mappings and compact lists count too', () => {
      let text = 'iommu-lens: 1\nname:\n';
      for (let i = 0; i < 200; i++) text += ' '.repeat(i + 1) + `k${i}:\n`;
      assert.ok(loadConfig('n.iommu.yaml', text).diagnostics.some((d) => d.code === 'too-deep'));
      assert.ok(loadConfig('n.iommu.yaml', 'iommu-lens: 1\nname:\n' + '- '.repeat(300) + 'x\n').diagnostics.some((d) => d.code === 'too-deep'));
      // Brackets inside quotes and comments are not nesting.
      const quoted = loadConfig('n.iommu.yaml', `iommu-lens: 1\nname: "${'['.repeat(300)}" # ${'{'.repeat(300)}\n`);
      assert.deepEqual(quoted.diagnostics.map(show), []);
    });
  });

  describe('8. large configs', () => {
    it('tree on 8,000 devices: position lookups are indexed', () => {
      let text = 'iommu-lens: 1\nmemory:\n  ram: { kind: ram, size: 4KiB }\naddress-spaces:\n  system:\n    - { at: 0, region: ram }\ndevices:\n';
      for (let i = 0; i < 8000; i++) text += `  d${i}: { as: system }\n`;
      const cfg = loadConfig('l.iommu.yaml', text);
      assert.equal(cfg.errorCount, 0);
      for (let i = 0; i < 8000; i++) assert.equal(cfg.document.rangeOf(['devices', `d${i}`], 'key').start.line, 7 + i);
      assert.deepEqual(cfg.document.pathAt(text.lastIndexOf('d7999')), { path: ['devices', 'd7999'], onKey: true });
    });

    it('100,000 regions in one container: placing them and drawing the view are not quadratic', () => {
      const root = new ContainerRegion('root', 1n << 64n);
      const n = 100_000;
      for (let i = 0; i < n; i++) root.addSubregion(new RamRegion(`r${i}`, 0x1000n, new SparseMemory(0x1000n)), BigInt(i) * 0x1000n);
      const view = renderFlatView(root);
      assert.equal(view.length, n);
      for (let i = 0; i < n; i += 997) assert.equal(view[i]!.region.name, `r${i}`);
      // QEMU's order: higher priority first, the newest first among equals.
      assert.deepEqual(root.subregions.slice(0, 2).map((s) => s.region.name), [`r${n - 1}`, `r${n - 2}`]);
    });
  });

  describe('the CLI never prints a stack trace', () => {
    it('an unexpected error is one line naming the file and "internal error", exit 2', () => {
      const err: string[] = [];
      // Output that fails in a way no command expects: a bug's exception reaches runCli.
      const code = runCli(['tree', 'boom.iommu.yaml'], {
        out: () => {
          throw new TypeError('Cannot read properties of undefined (reading \'x\')\n    at somewhere (file.js:1:1)');
        },
        err: (l) => err.push(l),
        readFile: () => 'iommu-lens: 1\n',
        color: false,
        colorErr: false,
      });
      assert.equal(code, 2);
      assert.deepEqual(err, ["iommu-lens: boom.iommu.yaml: internal error: Cannot read properties of undefined (reading 'x')"]);
    });

    it('a load that throws becomes one internal-error diagnostic, not an exception', async () => {
      const { failedLoad } = await import('../../src/config/load');
      const cfg = failedLoad('f.iommu.yaml', 'iommu-lens: 1\n', new Error('boom'));
      assert.deepEqual(cfg.diagnostics.map(show), ['1:1 error internal-error IOMMU Lens failed while loading this file (internal error: boom)']);
      assert.doesNotThrow(() => treeReport(cfg, 16));
    });
  });
});

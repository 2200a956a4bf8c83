/**
 * The `yaml` package, loaded when first needed: a config the fast readers take (yaml-fast.ts,
 * json-fast.ts) never needs it, so a one-shot CLI neither reads nor compiles it. The bundles load
 * it from a file of its own beside them (scripts/build.mjs).
 */
import type * as Yaml from 'yaml';

let lib: typeof Yaml | undefined;

export function yamlLib(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, by design
  lib ??= require('yaml') as typeof Yaml;
  return lib;
}

/** Line starts of a text, and an offset's line and column (both from 1, as yaml's LineCounter gives them). */
export class LineStarts {
  readonly lineStarts: number[] = [];

  /** The line starts of a text: 0, and after each line feed. */
  static of(text: string): LineStarts {
    const l = new LineStarts();
    const starts = l.lineStarts;
    starts.push(0);
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
    return l;
  }

  linePos(offset: number): { line: number; col: number } {
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length;
    // The last line start at or before the offset (starts[0] is 0).
    while (lo + 1 < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid;
    }
    return { line: lo + 1, col: offset - (starts[lo] ?? 0) + 1 };
  }
}

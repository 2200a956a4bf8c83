/**
 * How deeply a YAML or JSON text nests its lists and mappings, measured by one linear scan before
 * any parser sees it. Parsers (and everything that walks a parsed value) recurse once per level,
 * so a text nested thousands deep would overflow the stack somewhere different on every run; a
 * config is a few levels deep, so past MAX_NESTING the loader refuses the file in its own words,
 * at the same place every time.
 *
 * The scan counts flow brackets (`[`, `{`) that open a collection, outside quoted strings and
 * comments, and block levels: an indentation deeper than the lines before it, and each compact
 * `- ` or `? ` that opens a nested collection on the same line. It may count a little more than a
 * parser would (a `[` inside a block scalar), never less.
 */

export const MAX_NESTING = 128;

/** The offset where nesting first passes `limit`, or undefined. */
export function nestingTooDeep(text: string, limit = MAX_NESTING): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line: its indentation (outside flow collections, where indentation is free).
    let col = 0;
    while (i < n && text.charCodeAt(i) === 32) {
      i++;
      col++;
    }
    const c0 = text.charCodeAt(i);
    const blank = i >= n || c0 === 10 || c0 === 13 || c0 === 35; /* # */
    if (!blank && flow === 0) {
      while (indents.length && indents[indents.length - 1]! >= col) indents.pop();
      indents.push(col);
      if (indents.length > limit) return i;
    }
    let compact = 0;
    let lastSignificant = blank ? 0 : 10; // as if after a line start
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) {
        i++;
        break;
      }
      if (c === 35 /* # */ && (lastSignificant === 10 || text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9)) {
        // A comment runs to the end of the line.
        while (i < n && text.charCodeAt(i) !== 10) i++;
        continue;
      }
      if (c === 34 /* " */ || c === 39 /* ' */) {
        if (!opensValue(lastSignificant)) {
          lastSignificant = c;
          continue;
        }
        i = skipQuoted(text, i, c);
        lastSignificant = c;
        continue;
      }
      if ((c === 91 /* [ */ || c === 123) /* { */ && opensValue(lastSignificant)) {
        flow++;
        if (flow + indents.length + compact > limit) return i;
      } else if ((c === 93 /* ] */ || c === 125) /* } */ && flow > 0) {
        flow--;
      } else if ((c === 45 /* - */ || c === 63) /* ? */ && lastSignificant === 10 && isSpace(text.charCodeAt(i + 1))) {
        compact++;
        if (flow + indents.length + compact > limit) return i;
        // `- ` keeps the line start: `- - - x` nests three lists.
        continue;
      }
      if (c !== 32 && c !== 9 && c !== 13) lastSignificant = c;
    }
  }
  return undefined;
}

/** A value can start after these: line start (10), `:`, `,`, `[`, `{`, `-`, `?`. */
function opensValue(prev: number): boolean {
  return prev === 10 || prev === 58 || prev === 44 || prev === 91 || prev === 123 || prev === 45 || prev === 63;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || Number.isNaN(c);
}

/** The offset of the closing quote (or the end of the text). */
function skipQuoted(text: string, start: number, quote: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote === 34 && c === 92 /* \ */) {
      i++;
      continue;
    }
    if (c === quote) {
      if (quote === 39 && text.charCodeAt(i + 1) === 39) {
        i++;
        continue;
      }
      return i;
    }
  }
  return text.length;
}

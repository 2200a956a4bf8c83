/**
 * Diagnostics as plain values: a range, a severity, a stable code and a message a person can act
 * on. The CLI prints them gcc-style; the extension converts them to vscode.Diagnostic at its edge.
 */

/** Zero-based line and character (UTF-16 code units), as editors count. */
export interface Position {
  readonly line: number;
  readonly character: number;
}

export interface Range {
  readonly start: Position;
  readonly end: Position;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  readonly file: string;
  readonly range: Range;
  readonly severity: Severity;
  /** Stable code, e.g. `unknown-reference`; documented in the README. */
  readonly code: string;
  readonly message: string;
  /** Quick-fix hints for editors: replace the range with one of these texts. */
  readonly fixes?: readonly DiagnosticFix[];
}

export interface DiagnosticFix {
  readonly title: string;
  readonly range: Range;
  readonly newText: string;
}

/** `file:line:col: severity: message [code]`, one-based as compilers print. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message} [${d.code}]`;
}

export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  return (
    a.file.localeCompare(b.file) ||
    a.range.start.line - b.range.start.line ||
    a.range.start.character - b.range.start.character ||
    a.code.localeCompare(b.code) ||
    a.message.localeCompare(b.message)
  );
}

export const ZERO_RANGE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

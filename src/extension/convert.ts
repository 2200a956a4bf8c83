/** Plain config values to vscode values, at the edge. */
import * as vscode from 'vscode';
import type { Diagnostic, Range, Severity } from '../config/diagnostics';

export function toRange(r: Range): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

const SEVERITY: Record<Severity, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

export function toDiagnostic(d: Diagnostic): vscode.Diagnostic {
  const v = new vscode.Diagnostic(toRange(d.range), d.message, SEVERITY[d.severity]);
  v.code = d.code;
  v.source = 'iommu-lens';
  return v;
}

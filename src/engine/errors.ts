/**
 * Errors are values in the engine: every public function that can refuse its input returns an
 * EngineError instead of throwing, so callers (the config layer, the views) never need a try.
 */
export interface EngineError {
  readonly error: true;
  /** Stable code, e.g. `notifier-flags-none`. */
  readonly code: string;
  readonly message: string;
}

export function engineError(code: string, message: string): EngineError {
  return { error: true, code, message };
}

export function isEngineError(v: unknown): v is EngineError {
  return typeof v === 'object' && v !== null && (v as { error?: unknown }).error === true;
}

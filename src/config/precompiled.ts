/**
 * The schema validators generated at build time: scripts/build.mjs replaces this module in the
 * bundles with Ajv's standalone code (see schema-validator.ts): the quick validator compiled with
 * the bundle, the full one kept as text and compiled when a config first needs it. Unbundled,
 * there are none.
 */
import type { ValidateFunction } from 'ajv';

export function precompiledValidator(): ValidateFunction | undefined {
  return undefined;
}

export function precompiledQuickValidator(): ((data: unknown) => boolean) | undefined {
  return undefined;
}

/**
 * The schema validator generated at build time: scripts/build.mjs replaces this module in the
 * bundles with Ajv's standalone code (see schema-validator.ts). Unbundled, there is none.
 */
import type { ValidateFunction } from 'ajv';

export function precompiledValidator(): ValidateFunction | undefined {
  return undefined;
}

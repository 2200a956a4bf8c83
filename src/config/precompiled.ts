/**
 * The schema validators generated at build time: scripts/build.mjs replaces this module in the
 * bundles with Ajv's standalone code (see schema-validator.ts): the quick validator's config part
 * compiled with the bundle, its model parts and the full validator each a file of their own,
 * read when a config first needs them. Unbundled, there are none.
 */
import type { ValidateFunction } from 'ajv';
import type { QuickValidator } from './quick-validator';

export function precompiledValidator(): ValidateFunction | undefined {
  return undefined;
}

/** The quick validator's parts: the config's, a model's by its name, the IOMMU record's key patterns. */
export interface QuickParts {
  readonly root: QuickValidator;
  readonly model: (name: string) => QuickValidator;
  readonly iommuKeys: readonly string[];
}

export function precompiledQuickParts(): QuickParts | undefined {
  return undefined;
}

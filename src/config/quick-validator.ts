/**
 * The quick validator (schema-validator.ts) is made of parts: one for the config with each IOMMU
 * checked for a known model only, and one per IOMMU model. This module joins them, with no Ajv
 * of its own, so that a bundle holds only the parts' precompiled code.
 */
/** A quick validator: whether a value is valid, nothing more. */
export type QuickValidator = (data: unknown) => boolean;

/**
 * The quick validator made of its parts: the config's (IOMMUs checked for a known model only),
 * then each IOMMU by its model's, fetched by `model` when first needed. It accepts exactly what
 * ConfigSchema accepts (a unit test compares it with the full validator on every fixture). The
 * IOMMUs are visited as Ajv visits the record: `for...in`, and only the keys that the record's
 * `patternProperties` match (`keys`, the patterns' sources, compiled as Ajv compiles them).
 */
export function quickValidatorOf(root: QuickValidator, model: (name: string) => QuickValidator, keys: readonly string[]): QuickValidator {
  const patterns = keys.map((k) => new RegExp(k, 'u'));
  return (data) => {
    if (!root(data)) return false;
    const iommus = (data as { iommus?: Record<string, { model: string }> }).iommus;
    if (iommus === undefined) return true;
    for (const name in iommus) {
      if (patterns.some((p) => p.test(name)) && !model(iommus[name]!.model)(iommus[name])) return false;
    }
    return true;
  };
}

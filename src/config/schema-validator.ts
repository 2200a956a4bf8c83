/**
 * The schema validators: Ajv with the options the diagnostics rely on, and a quick one that only
 * says whether a config is valid. The build (scripts/build.mjs) turns both into Ajv's standalone
 * code once, so that the CLI and the extension do not compile the schema on every start (about
 * 0.3 s); `precompiled.ts` is where the bundle gets that code. Without a bundle (the unit tests
 * run the tsc output) the schemas are compiled at first use.
 *
 * The quick validator is what a valid config costs: the same schema without its descriptions and
 * titles, a choice among literals written as one `enum`, each repeated part written once under
 * `$defs` and compiled as its own small function (Ajv's inlineRefs: false), one error at most and
 * no messages. It comes in parts: the config with each IOMMU checked only for a known `model`, and
 * one validator per model for the rest of that IOMMU, so that a config pays for the models it
 * uses (the bundles load a model's part from a file of its own when a config first names it).
 * The full validator inlines the whole schema into one function of over a megabyte, which V8
 * takes about 0.1 s to compile on its first call: it runs only for a config the quick one
 * refused, to say everything that is wrong.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { quickValidatorOf, type QuickValidator } from './quick-validator';
import { ConfigSchema, IOMMU_SCHEMAS } from './schema';

const OPTIONS = { allErrors: true, strict: false, discriminator: true, verbose: true, allowUnionTypes: true } as const;
const QUICK_OPTIONS = { allErrors: false, strict: false, discriminator: true, verbose: false, messages: false, allowUnionTypes: true, inlineRefs: false } as const;

export function compileValidator(): ValidateFunction {
  return new Ajv(OPTIONS).compile(ConfigSchema);
}

/** The validator as a CommonJS module's source (what the build writes into the bundles). */
export function standaloneValidatorSource(): string {
  const ajv = new Ajv({ ...OPTIONS, code: { source: true } });
  return standaloneCode(ajv, ajv.compile(ConfigSchema));
}

export function compileQuickValidator(): QuickValidator {
  const schemas = quickSchemas();
  const root = new Ajv(QUICK_OPTIONS).compile(schemas.root);
  const models = new Map<string, QuickValidator>();
  const model = (name: string) => {
    let v = models.get(name);
    if (v === undefined) models.set(name, (v = new Ajv(QUICK_OPTIONS).compile(schemas.models[name]!)));
    return v;
  };
  return quickValidatorOf(root, model, schemas.iommuKeys);
}

/** The quick validator's parts as CommonJS modules' sources (what the build writes), and the IOMMU record's key patterns. */
export function quickValidatorSources(): { root: string; models: Record<string, string>; iommuKeys: string[] } {
  const source = (schema: Record<string, unknown>) => {
    const ajv = new Ajv({ ...QUICK_OPTIONS, code: { source: true } });
    return standaloneCode(ajv, ajv.compile(schema));
  };
  const schemas = quickSchemas();
  return { root: source(schemas.root), models: Object.fromEntries(Object.entries(schemas.models).map(([m, s]) => [m, source(s)])), iommuKeys: schemas.iommuKeys };
}

/** Keywords whose values are data, not schemas: left as they are. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'required']);
/** Keywords whose values map names to schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
/** Words for people, which never change whether a config is valid. */
const ANNOTATIONS = new Set(['description', 'title', 'markdownDescription', '$comment']);
/** Subschemas at least this long (as JSON) become their own definition. */
const MIN_DEF_LENGTH = 100;

/**
 * The config schema for the quick validator, in parts (root: the config, each IOMMU checked for a
 * known model; models: each model's IOMMU schema): without annotations, a choice among literals
 * as one `enum`, every subschema of some size replaced by a `$ref` to one definition of it
 * (identical subschemas share one).
 */
export function quickSchemas(): { root: Record<string, unknown>; models: Record<string, Record<string, unknown>>; iommuKeys: string[] } {
  const models = Object.keys(IOMMU_SCHEMAS);
  // The record of IOMMUs: each an object whose `model` names a model (the discriminator's own check).
  const knownModel = { type: 'object', required: ['model'], properties: { model: { type: 'string', enum: models } } };
  const props = ConfigSchema.properties as Record<string, Record<string, unknown>>;
  const iommus = props.iommus!;
  const iommuKeys = Object.keys(iommus.patternProperties as object);
  if (Object.keys(iommus).some((k) => !['type', 'patternProperties', 'description'].includes(k))) throw new Error('the iommus record has keywords the quick validator does not split');
  const record = { ...iommus, patternProperties: Object.fromEntries(iommuKeys.map((k) => [k, knownModel])) };
  const root = { ...ConfigSchema, properties: { ...props, iommus: record } };
  return { root: quickForm(root), models: Object.fromEntries(models.map((m) => [m, quickForm(IOMMU_SCHEMAS[m])])), iommuKeys };
}

/** A choice among literals (TypeBox's union of literals): `{ const, type }` branches of the type of their value. */
function literalChoice(o: Record<string, unknown>): unknown[] | undefined {
  const alts = o.anyOf;
  if (!Array.isArray(alts) || alts.length === 0 || o.enum !== undefined) return undefined;
  const values: unknown[] = [];
  for (const a of alts as unknown[]) {
    if (a === null || typeof a !== 'object') return undefined;
    const b = a as Record<string, unknown>;
    const keys = Object.keys(b).filter((k) => !(ANNOTATIONS.has(k) && typeof b[k] === 'string'));
    if (keys.length !== 2 || !('const' in b) || !('type' in b)) return undefined;
    const c = b.const;
    const ok = typeof c === 'string' ? b.type === 'string' : typeof c === 'boolean' ? b.type === 'boolean' : typeof c === 'number' && Number.isFinite(c) && (b.type === 'number' || (b.type === 'integer' && Number.isInteger(c)));
    if (!ok) return undefined;
    values.push(c);
  }
  return values;
}

/** A schema in the quick validator's form (see quickSchemas); it accepts exactly what `schema` accepts. */
function quickForm(schema: unknown): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const bare = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(bare);
    if (s === null || typeof s !== 'object') return s;
    const out: Record<string, unknown> = {};
    // A primitive equals one of the literals exactly when it equals one of their consts of its type.
    const literals = literalChoice(s as Record<string, unknown>);
    for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
      if (ANNOTATIONS.has(k) && typeof v === 'string') continue;
      if (k === 'anyOf' && literals) out.enum = literals;
      else if (DATA_KEYWORDS.has(k)) out[k] = v;
      else if (SCHEMA_MAPS.has(k) && v !== null && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, bare(x)]));
      else out[k] = bare(v);
    }
    return out;
  };
  const hoist = (s: unknown, top: boolean): unknown => {
    if (Array.isArray(s)) return s.map((x) => hoist(x, false));
    if (s === null || typeof s !== 'object') return s;
    const text = JSON.stringify(s);
    // A discriminated oneOf's branches stay in place (Ajv reads their tag property there).
    if (!top && text.length >= MIN_DEF_LENGTH) {
      let name = names.get(text);
      if (name === undefined) {
        name = `d${names.size}`;
        names.set(text, name);
        defs[name] = hoist(s, true);
      }
      return { $ref: `#/$defs/${name}` };
    }
    const out: Record<string, unknown> = {};
    const o = s as Record<string, unknown>;
    const discriminated = o.discriminator !== undefined;
    for (const [k, v] of Object.entries(o)) {
      if (DATA_KEYWORDS.has(k)) out[k] = v;
      else if (SCHEMA_MAPS.has(k) && v !== null && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, hoist(x, false)]));
      else if (k === 'oneOf' && discriminated && Array.isArray(v)) out[k] = v.map((x) => hoist(x, true));
      else out[k] = hoist(v, false);
    }
    return out;
  };
  const root = hoist(bare(schema), true) as Record<string, unknown>;
  return { ...root, $defs: defs };
}

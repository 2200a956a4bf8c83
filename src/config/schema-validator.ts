/**
 * The schema validators: Ajv with the options the diagnostics rely on, and a quick one that only
 * says whether a config is valid. The build (scripts/build.mjs) turns both into Ajv's standalone
 * code once, so that the CLI and the extension do not compile the schema on every start (about
 * 0.3 s); `precompiled.ts` is where the bundle gets that code. Without a bundle (the unit tests
 * run the tsc output) the schemas are compiled at first use.
 *
 * The quick validator is what a valid config costs: the same schema without its descriptions and
 * titles, each repeated part written once under `$defs` and compiled as its own small function
 * (Ajv's inlineRefs: false), one error at most and no messages. The full validator inlines the
 * whole schema into one function of over a megabyte, which V8 takes about 0.1 s to compile on its
 * first call: it runs only for a config the quick one refused, to say everything that is wrong.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { ConfigSchema } from './schema';

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

export function compileQuickValidator(): ValidateFunction {
  return new Ajv(QUICK_OPTIONS).compile(quickSchema());
}

/** The quick validator as a CommonJS module's source. */
export function quickValidatorSource(): string {
  const ajv = new Ajv({ ...QUICK_OPTIONS, code: { source: true } });
  return standaloneCode(ajv, ajv.compile(quickSchema()));
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
 * The config schema for the quick validator: without annotations, and every subschema of some
 * size replaced by a `$ref` to one definition of it (identical subschemas share one). It accepts
 * exactly what ConfigSchema accepts (a unit test compares the two validators on every fixture).
 */
export function quickSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const bare = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(bare);
    if (s === null || typeof s !== 'object') return s;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
      if (ANNOTATIONS.has(k) && typeof v === 'string') continue;
      if (DATA_KEYWORDS.has(k)) out[k] = v;
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
  const root = hoist(bare(ConfigSchema), true) as Record<string, unknown>;
  return { ...root, $defs: defs };
}

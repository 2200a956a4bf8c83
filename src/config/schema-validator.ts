/**
 * The schema validator: Ajv with the options the diagnostics rely on. The build (scripts/build.mjs)
 * turns it into Ajv's standalone code once, so that the CLI and the extension do not compile the
 * schema on every start (about 0.3 s); `precompiled.ts` is where the bundle gets that code.
 * Without a bundle (the unit tests run the tsc output) the schema is compiled at first use.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { ConfigSchema } from './schema';

const OPTIONS = { allErrors: true, strict: false, discriminator: true, verbose: true, allowUnionTypes: true } as const;

export function compileValidator(): ValidateFunction {
  return new Ajv(OPTIONS).compile(ConfigSchema);
}

/** The validator as a CommonJS module's source (what the build writes into the bundles). */
export function standaloneValidatorSource(): string {
  const ajv = new Ajv({ ...OPTIONS, code: { source: true } });
  return standaloneCode(ajv, ajv.compile(ConfigSchema));
}

// Bundles the extension, the CLI and the benchmark with esbuild. `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// --prepare: npm's `prepare` (after `npm ci`/`npm install`). npm also runs `prepare` on
// `npm pack`/`npm publish`, after `prepack` built the production bundle: leave that one alone.
if (process.argv.includes('--prepare') && ['pack', 'publish'].includes(process.env.npm_command ?? '')) process.exit(0);

const watch = process.argv.includes('--watch');
const meta = process.argv.includes('--meta');
// --production: minified, no source maps (what `npm run package` puts in the .vsix).
const production = process.argv.includes('--production');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  loader: { '.yaml': 'text' },
};
/**
 * The config schema's validators as Ajv standalone code, generated here once so that the CLI and
 * the extension do not compile the schema on every start: src/config/precompiled.ts becomes that
 * code in the bundles, and src/config/schema-validator.ts (which would load Ajv's compiler) a stub.
 * The quick validator (valid or not) comes in parts: the config's (each IOMMU checked for a known
 * model only) is compiled with the bundle, each IOMMU model's is a file of its own
 * (dist/config-quick-MODEL.js) read when a config first names that model. The full validator
 * (every error, over a megabyte of code) is a file of its own too (dist/config-validator.js),
 * read only when a config is not valid: a one-shot CLI neither reads nor compiles it.
 */
async function validatorSources() {
  const r = await esbuild.build({ entryPoints: ['src/config/schema-validator.ts'], bundle: true, platform: 'node', format: 'cjs', write: false, logLevel: 'warning' });
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lens-build-'));
  try {
    const file = join(dir, 'schema-validator.cjs');
    writeFileSync(file, r.outputFiles[0].text);
    const m = createRequire(import.meta.url)(file);
    return { full: m.standaloneValidatorSource(), quick: m.quickValidatorSources() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sources = await validatorSources();
/** The full validator's file in dist/, next to the bundles that load it. */
const FULL_FILE = 'config-validator.js';
/** A model's part of the quick validator, in dist/ beside the bundles (package.json `files`: dist/config-quick-*.js). */
const quickFile = (model) => {
  if (!/^[a-z0-9-]+$/.test(model)) throw new Error(`model name ${model} does not make a file name`);
  return `config-quick-${model}.js`;
};
// The only modules Ajv's standalone code requires: its runtime helpers, bundled here and handed over.
const runtime = ['ajv/dist/runtime/ucs2length', 'ajv/dist/runtime/equal'];
for (const src of [sources.full, sources.quick.root, ...Object.values(sources.quick.models)]) {
  for (const [, id] of src.matchAll(/require\("([^"]+)"\)/g)) if (!runtime.includes(id)) throw new Error(`the standalone validator requires ${id}`);
}
const precompiledModule = `const runtime = { 'ajv/dist/runtime/ucs2length': require('ajv/dist/runtime/ucs2length'), 'ajv/dist/runtime/equal': require('ajv/dist/runtime/equal') };
const path = require('node:path');
const load = (file) => {
  const m = require(path.join(__dirname, file));
  return m.default ?? m;
};
let full, quick;
/** The full validator: its own file beside the bundle (${FULL_FILE}), read when a config first needs it. */
export function precompiledValidator() {
  full ??= load('${FULL_FILE}');
  return full;
}
const quickFiles = ${JSON.stringify(Object.fromEntries(Object.keys(sources.quick.models).map((m) => [m, quickFile(m)])))};
const models = new Map();
/** The quick validator's parts: the config's here, each model's in its own file beside the bundle. */
export function precompiledQuickParts() {
  if (quick === undefined) {
    const m = { exports: {} };
    (function (module, exports, require) {
${sources.quick.root}
    })(m, m.exports, (id) => runtime[id]);
    const model = (name) => {
      let v = models.get(name);
      if (v === undefined) models.set(name, (v = load(quickFiles[name])));
      return v;
    };
    quick = { root: m.exports.default ?? m.exports, model, iommuKeys: ${JSON.stringify(sources.quick.iommuKeys)} };
  }
  return quick;
}
`;
const precompiled = {
  name: 'precompiled-validator',
  setup(build) {
    const here = resolve('.');
    build.onLoad({ filter: /src[\\/]config[\\/]precompiled\.ts$/ }, () => ({ contents: precompiledModule, loader: 'js', resolveDir: here }));
    build.onLoad({ filter: /src[\\/]config[\\/]schema-validator\.ts$/ }, () => ({
      contents: `const stub = () => { throw new Error('this bundle validates with its precompiled validators'); };\nexport { stub as compileValidator, stub as compileQuickValidator, stub as standaloneValidatorSource, stub as quickValidatorSources, stub as quickSchemas };\n`,
      loader: 'js',
    }));
  },
};
/**
 * Parts a one-shot command does not need, each a file of its own in dist/ that the bundles
 * require when first used (the sources load them with a `require` at the point of use): the
 * `yaml` package (only for a file the fast readers hand over), the schema's builder (the `schema`
 * command), and the commands that talk to QEMU. A bundle refers to such a part by its file;
 * the part's own file bundles its source. Every file here must be in package.json `files`.
 */
const LAZY = [
  { match: (p) => p === 'yaml', source: 'yaml', outfile: 'dist/yaml.js' },
  { match: (p) => p === resolve('src/config/schema'), source: 'src/config/schema.ts', outfile: 'dist/config-schema.js' },
  { match: (p) => p === resolve('src/cli/live'), source: 'src/cli/live.ts', outfile: 'dist/cli-live.js' },
];
const lazyParts = {
  name: 'lazy-parts',
  setup(build) {
    build.onResolve({ filter: /^yaml$|[\\/](schema|live)$/ }, (args) => {
      const p = args.path.startsWith('.') ? resolve(args.resolveDir, args.path) : args.path;
      const part = LAZY.find((l) => l.match(p));
      return part ? { path: `./${part.outfile.slice('dist/'.length)}`, external: true } : undefined;
    });
  },
};
/**
 * commander requires node:child_process when it loads, for subcommands that are executables of
 * their own (which this CLI has none of); loading it costs a one-shot command a few milliseconds
 * (Node compiles child_process, net, dgram and their streams). In the bundles it is required when
 * commander first spawns. The build fails if commander's line changes, rather than keep it silently.
 */
const COMMANDER_SPAWN = "const childProcess = require('node:child_process');";
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(build) {
    build.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes(COMMANDER_SPAWN)) throw new Error(`${args.path}: commander no longer reads "${COMMANDER_SPAWN}"; see lazyChildProcess in scripts/build.mjs`);
      return { contents: text.replace(COMMANDER_SPAWN, "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };"), loader: 'js' };
    });
  },
};
common.plugins = [precompiled, lazyParts, lazyChildProcess];

const entries = [
  // Whitespace and syntax minified even here (names kept, for stack traces; the source map maps
  // lines back): a one-shot command reads and hashes the whole bundle on every start, and 1.1 MB
  // of it against 0.7 MB cost about 9 ms of the 55 that the CLI adds to bare node.
  { entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', minifyWhitespace: true, minifySyntax: true },
  // What bin/iommu-lens.js runs: dist/cli.js through V8's code cache (src/node/code-cache.ts).
  { entryPoints: ['src/cli/start.ts'], outfile: 'dist/cli-start.js' },
  // The banner's time is the bundle's first statement: the extension reports its module start-up from it (Metrics.moduleMs).
  { entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'], banner: { js: '"use strict";\nvar __iommuLensModuleStart = performance.now();' } },
  { entryPoints: ['bench/bench.ts'], outfile: 'dist/bench.js' },
].filter((e) => existsSync(e.entryPoints[0]));
for (const l of LAZY) {
  // The yaml package's own file: its CommonJS entry as it is.
  const entry = l.source === 'yaml' ? { stdin: { contents: "module.exports = require('yaml');", resolveDir: resolve('.'), sourcefile: 'yaml.js', loader: 'js' }, plugins: [] } : { entryPoints: [l.source] };
  entries.push({ ...entry, outfile: l.outfile });
}

// The full validator and the quick one's model parts, their Ajv runtime helpers bundled in.
entries.push({ stdin: { contents: sources.full, resolveDir: resolve('.'), sourcefile: FULL_FILE, loader: 'js' }, outfile: `dist/${FULL_FILE}`, sourcemap: false });
for (const [model, src] of Object.entries(sources.quick.models)) {
  entries.push({ stdin: { contents: src, resolveDir: resolve('.'), sourcefile: quickFile(model), loader: 'js' }, outfile: `dist/${quickFile(model)}`, sourcemap: false });
}

if (watch) {
  for (const e of entries) await (await esbuild.context({ ...common, ...e })).watch();
} else {
  const results = await Promise.all(entries.map((e) => esbuild.build({ ...common, ...e, metafile: meta })));
  // --meta: what each bundle holds, for `npx esbuild --analyze`-like reading (dist/*.meta.json).
  if (meta) results.forEach((r, i) => writeFileSync(`${entries[i].outfile}.meta.json`, JSON.stringify(r.metafile)));
}

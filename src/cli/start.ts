/**
 * What the `iommu-lens` executable runs first (bin/iommu-lens.js, bundled to dist/cli-start.js):
 * the CLI bundle beside it, through V8's code cache (src/node/code-cache.ts), so that a command run
 * before does not compile the bundle again. `IOMMU_LENS_CACHE_DIR` names the cache's directory
 * (empty: none).
 */
import * as path from 'node:path';
import { cacheDir, runCached } from '../node/code-cache';

runCached(path.join(__dirname, 'cli.js'), cacheDir(), process.argv[2]);

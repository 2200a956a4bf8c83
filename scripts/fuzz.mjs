#!/usr/bin/env node
// `npm run fuzz`: the fuzz suite (test/unit/fuzz.test.ts) with many more cases than `npm test`
// runs, for nightly use. FUZZ_RUNS (default 2000) and FUZZ_SEED choose how many and which.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, FUZZ_RUNS: process.env.FUZZ_RUNS ?? '2000' };
const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json'], { stdio: 'inherit', env });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const r = spawnSync('npx', ['mocha', '--no-config', '--timeout', '0', 'out/test/unit/fuzz.test.js'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);

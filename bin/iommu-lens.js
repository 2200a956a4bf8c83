#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('iommu-lens: the CLI is not built yet; run `npm run build` (npm install does it too)\n');
  process.exit(2);
}
// dist/cli-start.js runs the bundle through V8's code cache (src/node/code-cache.ts).
require(path.join(__dirname, '..', 'dist', 'cli-start.js'));

#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('iommu-lens: the CLI is not built yet; run `npm run build` (npm install does it too)\n');
  process.exit(2);
}
require(bundle);

// Turns a suite argument into the list of compiled test files. Shared by the runner extension
// and the launcher (scripts/vscode-host/run.mjs), so both agree on what a suite is:
//   - a directory: every *.test.js below it;
//   - a file: that file;
//   - a glob: `*` (within a path segment), `**` (any number of segments) and `?`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function walk(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() || entry.isSymbolicLink()) out.push(full);
  }
  return out;
}

function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` matches the rest.
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** @returns {string[]} absolute paths, sorted */
function resolveSuite(spec, cwd = process.cwd()) {
  const abs = path.resolve(cwd, spec);
  if (!/[*?]/.test(spec)) {
    if (!fs.existsSync(abs)) throw new Error(`suite not found: ${abs}`);
    if (fs.statSync(abs).isDirectory()) return walk(abs, []).filter((f) => f.endsWith('.test.js')).sort();
    return [abs];
  }
  // Walk from the last directory before the first wildcard.
  const posix = abs.split(path.sep).join('/');
  const firstWild = posix.search(/[*?]/);
  const base = posix.slice(0, posix.lastIndexOf('/', firstWild)) || '/';
  if (!fs.existsSync(base)) throw new Error(`suite folder not found: ${base}`);
  const re = globToRegExp(posix);
  return walk(base, [])
    .filter((f) => re.test(f.split(path.sep).join('/')))
    .sort();
}

module.exports = { resolveSuite, globToRegExp };

#!/usr/bin/env node
// The binary's entry, in plain JavaScript that any Node can parse, so that an old Node hears
// what it lacks instead of failing on the first `.ts` file (ERR_UNKNOWN_FILE_EXTENSION).
import module from 'node:module';
import process from 'node:process';

/** The first Node that runs TypeScript without a flag (type stripping on by default). */
const NEEDED = [22, 18];

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < NEEDED[0] || (major === NEEDED[0] && minor < NEEDED[1])) {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  process.stderr.write(
    `Berth needs Node ≥ ${NEEDED.join('.')} (you have ${process.versions.node}).\n` +
      'Node 24 is on the npm registry as a package; in this shell:\n' +
      `  npm install --prefix ~/.cache/node24 node-${platform}-${process.arch}@24\n` +
      `  export PATH=~/.cache/node24/node_modules/node-${platform}-${process.arch}/bin:$PATH\n` +
      'or install Node 24 LTS from https://nodejs.org/.\n',
  );
  process.exit(1);
}

// Node caches each module it has compiled, TypeScript stripped of its types included, so that
// a command's second run skips the stripping and compiling (`npm run bench -- cli`).
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache();

await import('./berth.ts');

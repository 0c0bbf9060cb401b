#!/usr/bin/env node
// The binary's entry, in plain JavaScript that any Node can parse, so that an old Node hears
// what it lacks instead of failing on the first `.ts` file (ERR_UNKNOWN_FILE_EXTENSION).
import module from 'node:module';
import process from 'node:process';
import { URL } from 'node:url';
import { TextDecoder } from 'node:util';

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

// Installed as a package (`npm install -g berth-0.1.0.tgz`, a dependency), Berth's sources sit
// under node_modules, where Node refuses to strip types (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING).
// Its own files are stripped here instead; a clone, or `npm install -g .` (a link to one), never
// comes this way.
const packageRoot = new URL('../', import.meta.url).href;
if (packageRoot.includes('/node_modules/')) {
  // Node announces the stripping function as experimental on its first use: a line on stderr
  // that a command's output has no place for.
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = (warning, ...rest) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (!text.startsWith('stripTypeScriptTypes')) emitWarning(warning, ...rest);
  };
  module.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      if (!url.startsWith(packageRoot) || url.slice(packageRoot.length).includes('node_modules/')) {
        return loaded;
      }
      if (loaded.format !== 'module-typescript') return loaded;
      return {
        ...loaded,
        format: 'module',
        source: module.stripTypeScriptTypes(
          typeof loaded.source === 'string'
            ? loaded.source
            : new TextDecoder().decode(loaded.source),
        ),
      };
    },
  });
}

await import('./berth.ts');

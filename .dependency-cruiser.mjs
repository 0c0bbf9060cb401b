// The house's floors, checked by `npm run lint` (see docs/architecture.md). A module imports
// only from its own floor or below; nothing imports in a circle, `import type` included.
// Type-only imports count here: a circle of types is still a circle for the reader.

/**
 * The ground floor: pure values and parsers, the logger, and the loop machinery the workers
 * share; nothing of Berth's above them.
 */
const GROUND = '^src/(validation|analysis)/|^src/(domain|logging|polling-loop)\\.ts$';
const CONFIG = '^src/config\\.ts$';

/** `from` may import only what `allowed` matches, within src/. */
function floor(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^src/', pathNot: allowed.join('|') },
  };
}

export default {
  forbidden: [
    {
      name: 'no-cycle',
      comment:
        'Modules that import each other in a circle: give what they share a home of its own.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    floor(
      'ground-floor',
      GROUND,
      [GROUND],
      'validation, analysis, logging, the domain types and the polling loop are the ground floor: they import nothing above them.',
    ),
    floor(
      'config',
      CONFIG,
      [GROUND],
      'config.ts reads the environment and imports only the ground floor.',
    ),
    floor(
      'store',
      '^src/store/',
      [GROUND, CONFIG, '^src/store/'],
      'The store knows Postgres, not the cloud nor who calls it.',
    ),
    floor(
      'cloud',
      '^src/cloud/',
      [GROUND, CONFIG, '^src/cloud/'],
      'The cloud layer takes no type from the store or above: shared types live on the ground floor (src/domain.ts).',
    ),
    floor(
      'reconciler',
      '^src/reconciler/',
      [GROUND, CONFIG, '^src/(store|cloud|reconciler)/'],
      'The reconciler drives the store and the cloud; it knows nothing of notifications, the daemon or the CLI.',
    ),
    floor(
      'notify',
      '^src/notify/',
      [GROUND, CONFIG, '^src/(store|cloud|reconciler|notify)/'],
      'Notifications sit above the reconciler and below the daemon and the CLI.',
    ),
    floor(
      'daemon',
      '^src/daemon/',
      [GROUND, CONFIG, '^src/(store|cloud|reconciler|notify|daemon)/'],
      'The daemon serves what the floors below hold; only the CLI is above it.',
    ),
    {
      name: 'simulator-apart',
      comment:
        'The simulated AWS is a cloud of its own: only the CLI (which starts it) imports it, and it imports no adapter.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|cloud/sim)/' },
      to: { path: '^src/cloud/sim/' },
    },
    {
      name: 'stand-in-apart',
      comment: 'The moto stand-in is started by the CLI alone.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|cloud/stand-in)/' },
      to: { path: '^src/cloud/stand-in/' },
    },
    {
      name: 'simulator-uses-no-adapter',
      comment:
        'The simulated AWS answers the SDK; it must not lean on the adapter it is there to test.',
      severity: 'error',
      from: { path: '^src/cloud/sim/' },
      to: { path: '^src/cloud/(aws/|aws-cloud\\.ts$|stand-in/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` counts: see the first comment.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

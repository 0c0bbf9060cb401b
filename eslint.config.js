// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `@aws-sdk/*` (values and types) belongs to the Cloud implementations in src/cloud. */
const awsSdkWall = {
  group: ['@aws-sdk/*'],
  message:
    'AWS SDK only in src/cloud: go through the Cloud interface (src/cloud/cloud.ts), or add the call there.',
};

/** Kysely's raw `sql` tag belongs to the store: everyone else calls the store's functions. */
const sqlWall = {
  name: 'kysely',
  importNames: ['sql'],
  message:
    "Raw SQL only in src/store (and the simulator's src/cloud/sim/sim-store.ts and migrations.ts): add a store function and call it.",
};

export default tseslint.config(
  { ignores: ['node_modules/', '.berth/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // bin/berth.js: the entry an old Node can parse, so plain JavaScript.
        projectService: { allowDefaultProject: ['bin/berth.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The CLI's own output, the test runner's progress and the benchmarks' tables are the only
    // places that print.
    files: ['src/cli/**', 'bin/**', 'test/run.ts', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
  // The house's walls. ESLint replaces a rule's options rather than merging them, so each
  // block below states the whole list of walls that still apply to its files.
  {
    rules: { 'no-restricted-imports': ['error', { patterns: [awsSdkWall], paths: [sqlWall] }] },
  },
  {
    // The Cloud interface's implementations: the AWS adapter and the simulated AWS.
    files: [
      'src/cloud/**',
      // berth infra bootstrap builds its own SDK clients from the endpoint and region it is
      // given, before any Cloud exists, and hands them to src/cloud/bootstrap.ts.
      'src/cli/commands/infra.ts',
      // Benchmarks may drive the SDK clients (real or simulated) directly.
      'bench/**',
    ],
    rules: { 'no-restricted-imports': ['error', { paths: [sqlWall] }] },
  },
  {
    // The store, and the migrations that build its schema, are where SQL is written.
    files: ['src/store/**', 'migrations/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [awsSdkWall] }] },
  },
  {
    // The simulated AWS's schema is the simulator's own: the store asks it nothing (the
    // simulator answers for itself, e.g. simulatedAwsHasState in src/cloud/sim/sim-store.ts).
    // Which floor may import which is checked by dependency-cruiser (.dependency-cruiser.mjs).
    files: ['src/store/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TemplateElement[value.raw=/berth_sim/], Literal[value=/berth_sim/]',
          message:
            "berth_sim is the simulated AWS's schema: ask the simulator (src/cloud/sim), not Berth's store.",
        },
      ],
    },
  },
  {
    // Tests reach behind every wall to set up and inspect; the simulated AWS keeps its state in
    // Postgres through its own store, in a schema its own migrations make.
    files: ['test/**', 'src/cloud/sim/sim-store.ts', 'src/cloud/sim/migrations.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // node:test's describe() and it() return promises that the runner itself awaits.
    files: ['test/**/*.ts'],
    // Assertions narrow values in ways the unnecessary-condition rule then misreads.
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // The dashboard's script runs in the browser as it is served: no types, the browser's globals.
    files: ['src/daemon/dashboard/static/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['document', 'location', 'fetch', 'DOMParser', 'setTimeout', 'uPlot'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
  {
    files: ['eslint.config.js', '.dependency-cruiser.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/*
 * The house's floors are checked by `npm run lint` with dependency-cruiser and the rules in
 * .dependency-cruiser.mjs. Here the same command runs over small trees written for the purpose:
 * each import the issue found (and removed) fails it again, naming its rule; a tree that keeps
 * to the floors passes.
 */

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const config = join(root, '.dependency-cruiser.mjs');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

let workdir: string;

before(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'berth-layers-'));
});
after(async () => {
  await rm(workdir, { recursive: true, force: true });
});

/** Writes `files` (path → source) into a fresh tree and runs the lint's dependency check on it. */
async function cruise(
  name: string,
  files: Record<string, string>,
): Promise<{ passed: boolean; output: string }> {
  const tree = join(workdir, name);
  const all = {
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        allowImportingTsExtensions: true,
        noEmit: true,
      },
    }),
    ...files,
  };
  for (const [path, source] of Object.entries(all)) {
    await mkdir(dirname(join(tree, path)), { recursive: true });
    await writeFile(join(tree, path), source);
  }
  try {
    const { stdout } = await promisify(execFile)(depcruise, ['src', '--config', config], {
      cwd: tree,
    });
    return { passed: true, output: stdout };
  } catch (error) {
    const { stdout, code } = error as { stdout?: string; code?: unknown };
    assert.equal(typeof code, 'number', `depcruise could not run: ${String(error)}`);
    return { passed: false, output: stdout ?? '' };
  }
}

describe('the lint check of floors and cycles', () => {
  it('passes a tree that keeps to the floors', async () => {
    const result = await cruise('clean', {
      'src/domain.ts': "export type LaunchType = 'FARGATE' | 'EC2';\n",
      'src/cloud/cloud.ts':
        "import type { LaunchType } from '../domain.ts';\nexport type T = LaunchType;\n",
      'src/store/schema.ts':
        "import type { LaunchType } from '../domain.ts';\nexport type R = LaunchType;\n",
      'src/reconciler/run.ts':
        "import type { T } from '../cloud/cloud.ts';\nimport type { R } from '../store/schema.ts';\nexport type P = [T, R];\n",
    });
    assert.ok(result.passed, result.output);
  });

  it('fails when the cloud takes a type from the store', async () => {
    const result = await cruise('cloud-up', {
      'src/store/schema.ts': "export type LaunchType = 'FARGATE' | 'EC2';\n",
      'src/cloud/cloud.ts':
        "import type { LaunchType } from '../store/schema.ts';\nexport type T = LaunchType;\n",
    });
    assert.equal(result.passed, false);
    assert.match(result.output, /error cloud: src\/cloud\/cloud\.ts → src\/store\/schema\.ts/);
  });

  it('fails on a circle made of type imports alone', async () => {
    const result = await cruise('type-cycle', {
      'src/cloud/sim/model.ts':
        "import type { SimContext } from './simulated-aws.ts';\nexport const KIND = {};\nexport type M = SimContext;\n",
      'src/cloud/sim/simulated-aws.ts':
        "import { KIND } from './model.ts';\nexport interface SimContext { kind: typeof KIND }\n",
    });
    assert.equal(result.passed, false);
    assert.match(result.output, /error no-cycle: src\/cloud\/sim\/model\.ts/);
  });

  it('fails when config.ts or the moto stand-in imports the simulator', async () => {
    const result = await cruise('simulator-apart', {
      'src/cloud/sim/faults.ts': 'export const FAULTS = 1;\n',
      'src/config.ts':
        "import { FAULTS } from './cloud/sim/faults.ts';\nexport const x = FAULTS;\n",
      'src/cloud/stand-in/stand-in.ts':
        "import { FAULTS } from '../sim/faults.ts';\nexport const y = FAULTS;\n",
    });
    assert.equal(result.passed, false);
    assert.match(
      result.output,
      /error simulator-apart: src\/config\.ts → src\/cloud\/sim\/faults\.ts/,
    );
    assert.match(
      result.output,
      /error simulator-apart: src\/cloud\/stand-in\/stand-in\.ts → src\/cloud\/sim\/faults\.ts/,
    );
  });

  it('fails when the reconciler imports the CLI', async () => {
    const result = await cruise('reconciler-up', {
      'src/cli/render.ts': 'export const render = 1;\n',
      'src/reconciler/run.ts':
        "import { render } from '../cli/render.ts';\nexport const z = render;\n",
    });
    assert.equal(result.passed, false);
    assert.match(
      result.output,
      /error reconciler: src\/reconciler\/run\.ts → src\/cli\/render\.ts/,
    );
  });
});

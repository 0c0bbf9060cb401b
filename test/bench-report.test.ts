import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { parseArgs } from '../bench/support/args.ts';
import { isFullRun } from '../bench/support/readme.ts';
import { provenance } from '../bench/support/report.ts';

/** A repository laid out as Berth's: a source file, and a results folder with a tracked file. */
function aRepository(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-provenance-'));
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: root });
  git('init', '--quiet');
  mkdirSync(path.join(root, 'src'));
  mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(path.join(root, 'bench', 'results', 'judgement.json'), '{}\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'one');
  return root;
}

it('a run on a clean tree says clean, whichever folder git is asked from, its own results aside', () => {
  const root = aRepository();
  // What a run writes: the judgement bench's tracked file, and a new results file.
  writeFileSync(path.join(root, 'bench', 'results', 'judgement.json'), '{"rows":1}\n');
  writeFileSync(path.join(root, 'bench', 'results', 'run-2026-12-07T05-00-06Z.json'), '{}\n');
  for (const from of [root, path.join(root, 'bench', 'results')]) {
    const seen = provenance(from);
    assert.match(seen.commit, /^[0-9a-f]{40}$/);
    assert.equal(seen.clean, true, `asked from ${from}`);
  }
});

it('a changed or new source file makes the tree not clean', () => {
  const root = aRepository();
  writeFileSync(path.join(root, 'src', 'a.ts'), 'export const a = 2;\n');
  assert.equal(provenance(root).clean, false);
  assert.equal(provenance(path.join(root, 'bench', 'results')).clean, false);

  const other = aRepository();
  writeFileSync(path.join(other, 'src', 'b.ts'), 'export const b = 1;\n');
  assert.equal(provenance(other).clean, false);
});

it('a part runs alone at a size of its own; a bad option is refused naming it', () => {
  const valid = ['fleet', 'reaction'];
  assert.deepEqual(parseArgs(['fleet', '--services', '50', '--procs', '4'], valid), {
    parts: ['fleet'],
    options: { services: 50, procs: 4 },
  });
  assert.match(
    (parseArgs(['fleet', '--procs', 'four'], valid) as { error: string }).error,
    /^--procs must be a whole number/,
  );
  assert.match(
    (parseArgs(['fleat'], valid) as { error: string }).error,
    /unknown benchmark "fleat"/,
  );
});

it("the README's figures come only from a complete full-size run of every part, with no options", () => {
  const chosen = [
    'judgement',
    'steady',
    'reaction',
    'rollback',
    'fleet',
    'fleet-4',
    'mass-rollback',
    'mass-rollback-4',
    'cli',
  ];
  const full = { run: { complete: true, small: false, chosen, options: {} } };
  assert.equal(isFullRun(full), true);
  assert.equal(isFullRun({ run: { ...full.run, complete: false } }), false);
  assert.equal(isFullRun({ run: { ...full.run, small: true } }), false);
  assert.equal(isFullRun({ run: { ...full.run, chosen: ['fleet', 'fleet-4'] } }), false);
  assert.equal(isFullRun({ run: { ...full.run, options: { services: 50 } } }), false);
});

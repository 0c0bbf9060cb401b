import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { newestResults, RESULTS_DIR, type Figure } from './report.ts';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const START = '<!-- bench-figures:start (npm run bench -- --readme writes this block) -->';
const END = '<!-- bench-figures:end -->';

interface RunFile {
  commit: string;
  clean: boolean;
  startedAt: string;
  machine: { cores: number; cpu: string; node: string };
  run: {
    complete: boolean;
    small: boolean;
    chosen: string[];
    options?: Record<string, unknown>;
    seconds?: number;
  };
  parts: Record<string, { figures: Figure[] }>;
}

interface ChaosFile {
  commit: string;
  clean: boolean;
  startedAt: string;
  held: boolean;
  report: {
    seconds: number;
    rollouts: number;
    kills: number;
    stalls: number;
    postgresRestarts: number;
    postgresCrashes: number;
    awsWrites: number;
    auditedWritesMatched: number;
    breaches: unknown[];
  };
}

const number = (value: number | null, unit: string): string => {
  if (value === null || !Number.isFinite(value)) return '—';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit === '' ? '' : ` ${unit}`}`;
};

const relative = (file: string) => `bench/results/${file.slice(RESULTS_DIR.length)}`;

/** The README's figures block: the newest complete full-size run's figures, and its commit. */
export function figuresBlock(
  run: RunFile,
  file: string,
  chaos?: { data: ChaosFile; file: string },
): string {
  const lines = [
    START,
    `From \`${relative(file)}\`: commit \`${run.commit.slice(0, 12)}\`${run.clean ? '' : ' (tree not clean)'}, ` +
      `${run.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${run.machine.cores} cores (${run.machine.cpu}), ` +
      `node ${run.machine.node}. What each figure means: [docs/benchmarks.md](docs/benchmarks.md).`,
    '',
    '| part | figure | Berth | floor | naive | target | |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const part of Object.values(run.parts)) {
    for (const f of part.figures) {
      if (f.target === null && f.floor === null) continue;
      const verdict =
        f.cut !== undefined ? 'cut, missed' : f.met === null ? '' : f.met ? 'met' : '**missed**';
      lines.push(
        `| ${f.part} | ${f.name} | ${number(f.value, f.unit)} | ${number(f.floor, f.unit)} | ${number(f.baseline, f.unit)} | ${f.target ?? ''} | ${verdict} |`,
      );
    }
  }
  if (chaos !== undefined) {
    const r = chaos.data.report;
    lines.push(
      '',
      `\`npm run chaos\` (\`${relative(chaos.file)}\`, commit \`${chaos.data.commit.slice(0, 12)}\`${chaos.data.clean ? '' : ', tree not clean'}): ` +
        `${r.rollouts} rollouts in ${r.seconds} s, ${r.kills} workers SIGKILLed, ${r.stalls} stalled past their lease, ` +
        `Postgres restarted ${r.postgresRestarts}× and crashed ${r.postgresCrashes}×; ${r.awsWrites} AWS writes, ` +
        `${r.auditedWritesMatched} matched one to one to their audit entries; ` +
        (chaos.data.held ? 'every check held.' : `**${r.breaches.length} checks broke**.`),
    );
  }
  lines.push(END);
  return lines.join('\n');
}

/**
 * Whether a results file is a full run, the only kind the README shows: complete, full-size,
 * every part (a judgement-only or fleet-only run is not), no size or process count of its own.
 */
export function isFullRun(data: unknown): boolean {
  const run = (data as Partial<RunFile>).run;
  if (run === undefined) return false;
  const every = ['judgement', 'steady', 'reaction', 'rollback', 'fleet', 'mass-rollback'];
  return (
    run.complete &&
    !run.small &&
    every.every((part) => run.chosen.includes(part)) &&
    Object.keys(run.options ?? {}).length === 0
  );
}

/** `npm run bench -- --readme`: README.md's figures block from the newest complete full run. */
export async function rewriteReadme(): Promise<number> {
  const file = await newestResults('run', isFullRun);
  if (file === undefined) {
    process.stderr.write(
      'bench --readme: no complete full-size run in bench/results; run npm run bench first\n',
    );
    return 1;
  }
  const run = JSON.parse(await readFile(file, 'utf8')) as RunFile;
  // A full chaos run only: a shortened one (fewer rollouts) is for working on the run itself.
  const chaosFile = await newestResults(
    'chaos',
    (data) => ((data as { options?: { rollouts?: number } }).options?.rollouts ?? 0) >= 200,
  );
  const chaos =
    chaosFile === undefined
      ? undefined
      : { file: chaosFile, data: JSON.parse(await readFile(chaosFile, 'utf8')) as ChaosFile };
  const readme = await readFile(README, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from === -1 || to < from) {
    process.stderr.write(`bench --readme: README.md has no figures block (${START} … ${END})\n`);
    return 1;
  }
  const next =
    readme.slice(0, from) + figuresBlock(run, file, chaos) + readme.slice(to + END.length);
  await writeFile(README, next);
  process.stdout.write(`README.md figures block written from ${relative(file)}\n`);
  return 0;
}

/**
 * A node:test reporter that prints, once every file has run, the ten slowest test files with
 * their wall time (the file's process start to its end, top-level awaits included) and their CPU
 * time (user + system of the file's process and the processes it ran, from
 * test/support/cpu-time.ts), then the sum of CPU over every file: the suite's time seen where it
 * goes. test/run.ts adds it beside the spec reporter.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface FileEvent {
  type: string;
  data: { name?: string; file?: string; nesting?: number; details?: { duration_ms?: number } };
}

/** How many files the table names; BERTH_TEST_SLOWEST=N for more (0: every file). */
const SHOWN = Number(process.env['BERTH_TEST_SLOWEST'] ?? '10');

export default async function* slowestFiles(source: AsyncIterable<FileEvent>) {
  const wallMs = new Map<string, number>();
  for await (const event of source) {
    const { name, file, nesting, details } = event.data;
    // Each file is one test of the runner's, named by its path, completed when its process ends.
    if (event.type !== 'test:complete' || nesting !== 0 || name === undefined) continue;
    if (file === undefined || path.resolve(name) !== file) continue;
    wallMs.set(name, details?.duration_ms ?? 0);
  }
  // test/run.ts runs the files in two runs of node's runner; the first leaves its times for the
  // second to print with its own, so that one table comes at the end.
  const wallFile = process.env['BERTH_TEST_WALL_FILE'];
  if (wallFile !== undefined && wallFile !== '') {
    for (const [name, ms] of jsonLines(wallFile)) if (!wallMs.has(name)) wallMs.set(name, ms);
    appendFileSync(
      wallFile,
      [...wallMs].map(([name, ms]) => `${JSON.stringify({ file: name, ms })}\n`).join(''),
    );
    if (process.env['BERTH_TEST_SLOWEST_LATER'] === '1') return;
  }
  if (wallMs.size === 0) return;
  const cpuMs = cpuTimes();
  const slowest = [...wallMs].sort((a, b) => b[1] - a[1]);
  const shown = SHOWN > 0 ? slowest.slice(0, SHOWN) : slowest;
  const width = Math.max(...shown.map(([name]) => name.length));
  const seconds = (ms: number | undefined) =>
    (ms === undefined ? '?' : (ms / 1000).toFixed(1)).padStart(6);
  yield `\n# the ${shown.length} slowest of ${wallMs.size} test files (${process.env['BERTH_TEST_RUN_SHAPE'] ?? `files run ${process.env['BERTH_TEST_CONCURRENCY'] ?? '?'} at a time`})\n`;
  yield `#   ${'file'.padEnd(width)}    wall      cpu\n`;
  for (const [name, ms] of shown) {
    yield `#   ${name.padEnd(width)}  ${seconds(ms)} s  ${seconds(cpuMs.get(path.resolve(name)))} s\n`;
  }
  const files = [...wallMs.keys()].map((name) => cpuMs.get(path.resolve(name)));
  const known = files.filter((ms) => ms !== undefined);
  if (known.length > 0) {
    const sum = known.reduce((total, ms) => total + ms, 0);
    yield `# cpu of the ${known.length} files: ${(sum / 1000).toFixed(1)} s (user + system, each file's process and the processes it ran)\n`;
  }
}

/** Each file's CPU time, as test/support/cpu-time.ts wrote it; empty when it wrote none. */
function cpuTimes(): Map<string, number> {
  const cpuFile = process.env['BERTH_TEST_CPU_FILE'];
  const times = new Map<string, number>();
  if (cpuFile === undefined || cpuFile === '') return times;
  for (const [file, ms] of jsonLines(cpuFile)) times.set(path.resolve(file), ms);
  return times;
}

/** The `{file, ms}` lines of a file, as pairs; none when there is no such file yet. */
function jsonLines(file: string): [string, number][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const { file: name, ms } = JSON.parse(line) as { file: string; ms: number };
      return [name, ms];
    });
}

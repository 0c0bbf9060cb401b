/**
 * A node:test reporter that prints, once every file has run, the ten slowest test files with
 * their wall time (the file's process start to its end, top-level awaits included), so that the
 * suite's time is seen where it goes. test/run.ts adds it beside the spec reporter.
 */
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
  if (wallMs.size === 0) return;
  const slowest = [...wallMs].sort((a, b) => b[1] - a[1]);
  const shown = SHOWN > 0 ? slowest.slice(0, SHOWN) : slowest;
  const width = Math.max(...shown.map(([name]) => name.length));
  yield `\n# the ${shown.length} slowest of ${wallMs.size} test files (wall time, files run ${process.env['BERTH_TEST_CONCURRENCY'] ?? '?'} at a time)\n`;
  for (const [name, ms] of shown) {
    yield `#   ${name.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)} s\n`;
  }
}

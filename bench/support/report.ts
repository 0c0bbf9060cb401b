import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** One measured figure, with what it is measured against. */
export interface Figure {
  /** The benchmark it belongs to (`steady`, `reaction`, …). */
  part: string;
  name: string;
  value: number;
  unit: string;
  /** What no controller could beat on this cloud (AWS's buckets, the calls it must make). */
  floor: number | null;
  /** The same workload done naively in the same run. */
  baseline: number | null;
  /** The target as stated in issue 11, e.g. `≤ 1.05 × floor`. */
  target: string | null;
  /** Whether the target is met; null where the figure has no target. */
  met: boolean | null;
  /**
   * Set when the workload's time budget ran out before it finished: what was reached by then.
   * The value is then a projection at the rate reached, and the target counts as missed.
   */
  cut?: string;
}

/** What one benchmark part returns: its figures and whatever detail its JSON should keep. */
export interface PartResult {
  figures: Figure[];
  detail: Record<string, unknown>;
}

/** p-th percentile (0–100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

function formatNumber(value: number | null, unit = ''): string {
  if (value === null || Number.isNaN(value)) return '—';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits })}${unit === '' ? '' : ` ${unit}`}`;
}

/** The table printed at the end of a run: each figure with its floor, baseline and target. */
export function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.part,
    f.name,
    formatNumber(f.value, f.unit),
    formatNumber(f.floor, f.unit),
    formatNumber(f.baseline, f.unit),
    f.target ?? '',
    f.cut !== undefined ? 'CUT, MISSED' : f.met === null ? '' : f.met ? 'met' : 'MISSED',
  ]);
  const header = ['part', 'figure', 'Berth', 'floor', 'naive baseline', 'target', ''];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The machine the figures were measured on, written beside them. */
export function machine(): Record<string, unknown> {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
  };
}

/** The repository the benchmarks belong to: where git is asked about the tree. */
const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The commit a run measured, and whether the tree had changes beside it, as git sees the
 * repository at `root`. The results folder is what a run writes (judgement.json among its
 * tracked files): its changes do not make the tree unclean. The pathspec is from the top of the
 * repository (`:(top)`), whatever folder git is run from — relative, it named a folder that does
 * not exist, and a run's own judgement.json made every run's tree read as not clean.
 */
export function provenance(root = REPOSITORY): { commit: string; clean: boolean } {
  const git = (args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  try {
    const commit = git(['rev-parse', 'HEAD']);
    // Untracked files count (a new source file changes what runs); ignored ones do not.
    const changes = git(['status', '--porcelain', '--', ':(top)', ':(top,exclude)bench/results']);
    return { commit, clean: changes === '' };
  } catch {
    return { commit: 'unknown', clean: false };
  }
}

/** `2026-12-07T05-01-02Z`: a file name's form of a time. */
function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/**
 * Writes one run's results as `bench/results/<kind>-<time>.json`: the commit, whether the tree
 * was clean, the machine, and what the run gives; nothing of an earlier run. Returns the path.
 */
export async function writeRunResults(
  kind: 'run' | 'chaos',
  body: Record<string, unknown>,
  startedAt = new Date(),
): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${kind}-${stamp(startedAt)}.json`;
  const results = {
    ...provenance(),
    startedAt: startedAt.toISOString(),
    writtenAt: new Date().toISOString(),
    machine: machine(),
    ...body,
  };
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

/** The newest results file of a kind (`run`, `chaos`), by the time in its name. */
export async function newestResults(
  kind: 'run' | 'chaos',
  accept: (data: unknown) => boolean = () => true,
): Promise<string | undefined> {
  const names = (await readdir(RESULTS_DIR).catch(() => [] as string[]))
    .filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.json'))
    .sort()
    .reverse();
  for (const name of names) {
    const data: unknown = JSON.parse(await readFile(`${RESULTS_DIR}${name}`, 'utf8'));
    if (accept(data)) return `${RESULTS_DIR}${name}`;
  }
  return undefined;
}

/**
 * A benchmark run's results: `bench/results/run-<time>.json` with every part's figures (each
 * with its floor, baseline and target) and `run-<time>.svg` drawn from this run's figures only.
 */
export async function writeBenchRun(
  parts: Record<string, PartResult>,
  startedAt: Date,
  extra: Record<string, unknown>,
): Promise<{ json: string; svg: string; figures: Figure[] }> {
  const figures = Object.values(parts).flatMap((part) => part.figures);
  const json = await writeRunResults('run', { ...extra, parts }, startedAt);
  const svg = json.replace(/\.json$/, '.svg');
  await writeFile(svg, chart(figures));
  return { json, svg, figures };
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c,
  );
}

/**
 * A hand-written SVG: one row per figure that has a floor or a baseline, three bars scaled to
 * the largest of the row (Berth, floor, naive), the values written beside them.
 */
export function chart(figures: readonly Figure[]): string {
  const rows = figures.filter((f) => f.floor !== null || f.baseline !== null);
  const rowHeight = 54;
  const labelWidth = 380;
  const barWidth = 420;
  const width = labelWidth + barWidth + 160;
  const height = 60 + rows.length * rowHeight;
  const colours = { berth: '#2b6cb0', floor: '#718096', naive: '#c05621' };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">npm run bench: Berth against the floor and a naive controller</text>`,
    `<rect x="10" y="32" width="10" height="10" fill="${colours.berth}"/><text x="24" y="41">Berth</text>`,
    `<rect x="80" y="32" width="10" height="10" fill="${colours.floor}"/><text x="94" y="41">floor</text>`,
    `<rect x="150" y="32" width="10" height="10" fill="${colours.naive}"/><text x="164" y="41">naive baseline</text>`,
  ];
  rows.forEach((f, i) => {
    const top = 56 + i * rowHeight;
    const largest = Math.max(f.value, f.floor ?? 0, f.baseline ?? 0) || 1;
    parts.push(`<text x="10" y="${top + 20}">${escapeXml(`${f.part}: ${f.name}`)}</text>`);
    const bars: [string, number | null, string][] = [
      ['berth', f.value, colours.berth],
      ['floor', f.floor, colours.floor],
      ['naive', f.baseline, colours.naive],
    ];
    bars.forEach(([, value, colour], j) => {
      if (value === null || Number.isNaN(value)) return;
      const y = top + j * 15;
      const w = Math.max(1, (value / largest) * barWidth);
      parts.push(
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="12" fill="${colour}"/>`,
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 10}">${escapeXml(formatNumber(value, f.unit))}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

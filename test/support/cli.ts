import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const BIN = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ACTOR = 'tester@berth-tests';

/**
 * Runs one `berth` command line in this process, against the given database: the same code as
 * the binary, without the cost of a process per command.
 */
export async function berth(
  url: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { DATABASE_URL: url, BERTH_ACTOR: ACTOR, BERTH_LOG_LEVEL: 'silent', ...options.env },
    signal: options.signal ?? new AbortController().signal,
  });
  return { code, stdout, stderr };
}

/** Like `berth`, but expects success and returns the parsed `--json` output. */
export async function berthJson<T = Record<string, unknown>>(
  url: string,
  args: readonly string[],
): Promise<T> {
  const result = await berth(url, [...args, '--json']);
  if (result.code !== 0) {
    throw new Error(`berth ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** Runs the real `bin/berth.ts` in a child process. */
export async function spawnBerth(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, BERTH_ACTOR: ACTOR, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code: code ?? -1, stdout, stderr };
}

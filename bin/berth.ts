#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { runCli } from '../src/cli/program.ts';

/** A yes/no question on the terminal: only `y` or `yes` is a yes. */
async function askOnTerminal(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await terminal.question(question)).trim());
  } finally {
    terminal.close();
  }
}

const controller = new AbortController();

/**
 * `npm start` forwards the terminal's SIGINT to its child, which has had the terminal's own
 * already: one Ctrl-C arrives twice. Only a signal this long after the first is a person insisting.
 */
const SAME_INTERRUPT_MS = 1000;
let firstSignalAt: number | undefined;
// SIGHUP: the terminal closed. Each of them lets a long command stop cleanly — drain the
// workers, close the dashboard, stop the embedded Postgres it started — instead of dying on
// Node's default action and leaving the postmaster behind.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    const now = Date.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      controller.abort();
    } else if (now - firstSignalAt > SAME_INTERRUPT_MS) {
      process.exit(130);
    }
  });
}

/**
 * A reader that went away (`berth up | tee log` after Ctrl-C, `berth events --follow | head`)
 * makes every later write fail with EPIPE. Unhandled, that error ends the process on the spot,
 * before it has stopped the embedded Postgres; handled, it stops the command as a signal would,
 * and nothing more is written.
 */
const output = { gone: false };
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    output.gone = true;
    controller.abort();
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => {
    if (!output.gone) process.stdout.write(text);
  },
  stderr: (text) => {
    if (!output.gone) process.stderr.write(text);
  },
  env: process.env,
  signal: controller.signal,
  isTTY: process.stderr.isTTY,
  columns: process.stderr.columns,
  confirm: process.stdin.isTTY ? askOnTerminal : undefined,
});

// Exit with the command's code even if something (a timer, a socket) would keep the process
// alive. Flush first, since writes to a pipe are asynchronous.
if (!output.gone) {
  for (const stream of [process.stdout, process.stderr]) {
    await new Promise<void>((resolve) => {
      stream.write('', () => {
        resolve();
      });
    });
  }
}
process.exit(code);

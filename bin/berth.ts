#!/usr/bin/env node
import { runCli } from '../src/cli/program.ts';

const controller = new AbortController();
let interrupts = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // The first signal lets a long command finish cleanly; a second one does not wait.
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => {
    process.stdout.write(text);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
  env: process.env,
  signal: controller.signal,
  isTTY: process.stderr.isTTY,
  columns: process.stderr.columns,
});

// Exit with the command's code even if something (a timer, a socket) would keep the process
// alive. Flush first, since writes to a pipe are asynchronous.
await new Promise<void>((resolve) => {
  process.stdout.write('', () => {
    resolve();
  });
});
await new Promise<void>((resolve) => {
  process.stderr.write('', () => {
    resolve();
  });
});
process.exit(code);

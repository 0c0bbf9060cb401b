/*
 * `node --import bench/support/eager-cli.ts bin/berth.ts …`: every command's module loaded before
 * the command line is read, as the CLI did before each action imported its own (the baseline of
 * `npm run bench -- cli`).
 */
import '../../src/cli/commands/admin.ts';
import '../../src/cli/commands/infra.ts';
import '../../src/cli/commands/notify.ts';
import '../../src/cli/commands/read.ts';
import '../../src/cli/commands/release.ts';
import '../../src/cli/commands/service.ts';
import '../../src/cli/commands/sim.ts';
import '../../src/cli/commands/stand-in.ts';
import '../../src/cli/commands/watch.ts';
import '../../src/cli/commands/worker.ts';
import '../../src/cli/context.ts';

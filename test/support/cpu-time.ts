/**
 * Imported into every test file's process by test/run.ts (`--import`): when the process exits it
 * appends its CPU time — user and system, its own and that of the children it waited for (the
 * `berth` processes, moto, Chromium it started) — to BERTH_TEST_CPU_FILE, one JSON line per
 * file. The slowest-files reporter prints it beside the wall time: on a machine shared with
 * others, wall time is noise and CPU time is what a change to a file moves.
 */
import { appendFileSync, readFileSync } from 'node:fs';

const cpuFile = process.env['BERTH_TEST_CPU_FILE'];
const testFile = process.argv[1];
if (cpuFile !== undefined && cpuFile !== '' && testFile?.endsWith('.test.ts') === true) {
  process.on('exit', () => {
    const ms = processCpuMs('self');
    if (ms !== undefined) appendFileSync(cpuFile, `${JSON.stringify({ file: testFile, ms })}\n`);
  });
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux Node runs on). */
const TICKS_PER_SECOND = 100;

/**
 * user + system time of a process and of its waited-for children, from /proc (Linux); undefined
 * elsewhere. `process.resourceUsage()` counts the process alone, without the children it ran.
 */
export function processCpuMs(pid: number | 'self'): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name, which may hold spaces: state is [0], utime [11] … cstime [14].
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

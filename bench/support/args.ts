/** What a run was asked for beyond the parts: a size, a number of worker processes. */
export interface RunOptions {
  services?: number;
  procs?: number;
}

/** The parts named and the options given; an error line (exit 2) for anything else. */
export function parseArgs(
  args: readonly string[],
  valid: readonly string[],
): { parts: string[]; options: RunOptions } | { error: string } {
  const parts: string[] = [];
  const options: RunOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--services' || arg === '--procs') {
      const value = args[++i];
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < 1) {
        return {
          error: `${arg} must be a whole number of at least 1, got ${JSON.stringify(value ?? '')}`,
        };
      }
      options[arg === '--services' ? 'services' : 'procs'] = n;
    } else if (valid.includes(arg)) parts.push(arg);
    else return { error: `unknown benchmark ${JSON.stringify(arg)}; valid: ${valid.join(', ')}` };
  }
  return { parts, options };
}

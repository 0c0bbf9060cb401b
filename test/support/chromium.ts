import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** The executables looked for on PATH, in order: Debian's, Ubuntu's, Google's. */
export const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome'] as const;

/**
 * The browser the dashboard test drives: `CHROMIUM_PATH`, else the first of `BROWSER_NAMES` on
 * PATH. There is no skipping: without one the test fails and says how to get one (`.ci/run`
 * installs Debian's chromium).
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['CHROMIUM_PATH'];
  if (configured !== undefined && configured !== '') {
    if (!executable(configured)) {
      throw new Error(`CHROMIUM_PATH=${configured} is not an executable file`);
    }
    return configured;
  }
  for (const name of BROWSER_NAMES) {
    for (const folder of (env['PATH'] ?? '').split(delimiter)) {
      if (folder === '') continue;
      const candidate = join(folder, name);
      if (executable(candidate)) return candidate;
    }
  }
  throw new Error(
    `no browser for the dashboard test: set CHROMIUM_PATH, or put one of ${BROWSER_NAMES.join(', ')} ` +
      'on PATH (apt-get install chromium; .ci/run does it)',
  );
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A headless Chromium through playwright-core: `--no-sandbox` because CI runs as root, and
 * `--disable-dev-shm-usage` because containers often give /dev/shm only 64 MB.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  try {
    return await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
      timeout: 30_000,
    });
  } catch (error) {
    throw new Error(`could not start ${executablePath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

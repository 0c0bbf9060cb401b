import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

/*
 * docs/aws-fidelity.md lists every AWS operation Berth calls, with what AWS documents for it and
 * who enforces that. This keeps the list true: the operations are read from the code (each
 * `new XxxCommand(` of an `@aws-sdk/client-*` import, everywhere under src/ but the simulator,
 * which answers them rather than calls them) and compared with the table's rows both ways.
 */

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SIMULATOR = join('src', 'cloud', 'sim');

/** The service column of the table, by SDK package. */
const SERVICES: Record<string, string> = {
  '@aws-sdk/client-ecs': 'ECS',
  '@aws-sdk/client-elastic-load-balancing-v2': 'ELBv2',
  '@aws-sdk/client-ecr': 'ECR',
  '@aws-sdk/client-cloudwatch': 'CloudWatch',
  '@aws-sdk/client-cloudwatch-logs': 'CloudWatch Logs',
  '@aws-sdk/client-ec2': 'EC2',
  '@aws-sdk/client-sts': 'STS',
  '@aws-sdk/client-iam': 'IAM',
};

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (relative(ROOT, path) === SIMULATOR) continue;
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files;
}

/** `Service Operation` → the files that call it. */
async function operationsCalled(): Promise<Map<string, Set<string>>> {
  const called = new Map<string, Set<string>>();
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    const text = await readFile(file, 'utf8');
    const serviceOf = new Map<string, string>();
    for (const match of text.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
      const service = SERVICES[match[2] ?? ''];
      if (service === undefined) {
        if ((match[2] ?? '').startsWith('@aws-sdk/client-')) {
          assert.fail(
            `${relative(ROOT, file)} imports ${match[2]}, which the table has no service for`,
          );
        }
        continue;
      }
      for (const name of (match[1] ?? '').split(',')) {
        serviceOf.set(name.replace(/^\s*type\s+/, '').trim(), service);
      }
    }
    for (const match of text.matchAll(/new\s+(\w+)Command\(/g)) {
      const service = serviceOf.get(`${match[1] ?? ''}Command`);
      if (service === undefined) continue; // not an AWS command (commander's Command, say)
      const key = `${service} ${match[1] ?? ''}`;
      called.set(key, (called.get(key) ?? new Set()).add(relative(ROOT, file)));
    }
  }
  return called;
}

/** `Service Operation` of each row of the fidelity table. */
async function tableRows(): Promise<Set<string>> {
  const text = await readFile(join(ROOT, 'docs', 'aws-fidelity.md'), 'utf8');
  const services = new Set(Object.values(SERVICES));
  const rows = new Set<string>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const [, service = '', operation = ''] = cells;
    if (services.has(service) && /^[A-Z]\w+$/.test(operation)) {
      const key = `${service} ${operation}`;
      assert.ok(!rows.has(key), `${key} has two rows`);
      rows.add(key);
    }
  }
  return rows;
}

it('docs/aws-fidelity.md has a row for every AWS operation Berth calls, and none for others', async () => {
  const called = await operationsCalled();
  const rows = await tableRows();
  // The scan finds what is known to be there: it cannot pass by finding nothing.
  for (const known of ['ECS CreateTaskSet', 'ELBv2 ModifyRule', 'CloudWatch GetMetricData']) {
    assert.ok(called.has(known), `the scan finds ${known}`);
  }
  const missing = [...called]
    .filter(([key]) => !rows.has(key))
    .map(([key, files]) => `${key} (called in ${[...files].join(', ')})`);
  assert.deepEqual(missing, [], 'operations called without a row in docs/aws-fidelity.md');
  const stale = [...rows].filter((key) => !called.has(key));
  assert.deepEqual(stale, [], 'rows of docs/aws-fidelity.md for operations nothing calls');
});

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { it } from 'node:test';

const PREFIXES: Record<string, string> = {
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-elastic-load-balancing-v2': 'elasticloadbalancing',
  '@aws-sdk/client-ecr': 'ecr',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
};

/** IAM actions of the commands the adapters import, e.g. `ecs:CreateTaskSet`. */
async function actionsTheAdaptersCall(): Promise<Set<string>> {
  const folder = new URL('../src/cloud/aws/', import.meta.url);
  const files = (await readdir(folder)).filter((name) => name.endsWith('.ts'));
  const sources = await Promise.all(files.map((name) => readFile(new URL(name, folder), 'utf8')));
  const actions = new Set<string>();
  for (const [, names, from] of sources
    .join('\n')
    .matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)) {
    const prefix = PREFIXES[from ?? ''];
    if (prefix === undefined) continue;
    for (const name of (names ?? '').split(',').map((part) => part.trim())) {
      const command = /^(\w+)Command$/.exec(name)?.[1];
      if (command !== undefined) actions.add(`${prefix}:${command}`);
    }
  }
  return actions;
}

it('docs/iam-policy.json allows exactly the actions Berth calls, and PassRole only for ECS tasks', async () => {
  const policy = JSON.parse(
    await readFile(new URL('../docs/iam-policy.json', import.meta.url), 'utf8'),
  ) as {
    Statement: { Action: string | string[]; Resource: string | string[]; Condition?: unknown }[];
  };
  const granted = new Set(policy.Statement.flatMap((statement) => [statement.Action].flat()));
  const called = await actionsTheAdaptersCall();
  assert.ok(called.size >= 10, `found the adapters' commands: ${[...called].join(', ')}`);
  for (const action of called)
    assert.ok(granted.has(action), `${action} is called but not granted`);
  // Beyond the calls: tagging task definitions (their content hash) and passing the task roles.
  const extra = [...granted].filter((action) => !called.has(action)).sort();
  assert.deepEqual(extra, ['ecs:TagResource', 'iam:PassRole']);
  const passRole = policy.Statement.find((statement) => statement.Action === 'iam:PassRole');
  assert.deepEqual(passRole?.Condition, {
    StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
  });
  assert.ok([passRole?.Resource].flat().every((arn) => /:role\/[A-Z_]+$/.test(arn ?? '')));
});

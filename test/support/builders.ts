import type { Action } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CliResult } from './cli.ts';
import { berth } from './cli.ts';

/**
 * `base` flags with those `extra` gives again left out, then `extra`: the CLI refuses a flag
 * given twice, so a test's own value replaces a default instead of following it.
 */
export function withFlags(base: readonly string[], extra: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < base.length; i++) {
    const token = base[i] ?? '';
    const next = base[i + 1];
    const takesValue = next !== undefined && !next.startsWith('--');
    if (token.startsWith('--') && extra.includes(token)) {
      if (takesValue) i++;
      continue;
    }
    kept.push(token);
  }
  return [...kept, ...extra];
}

/** The arguments of `berth service create NAME` with sensible test defaults, `extra` over them. */
export function serviceCreateArgs(name: string, extra: readonly string[] = []): string[] {
  return [
    'service',
    'create',
    name,
    ...withFlags(['--cluster', 'demo', '--image', 'nginx:1.27', '--port', '80'], extra),
  ];
}

/** `berth service create` with sensible test defaults; `overrides` are extra flags. */
export async function aService(
  url: string,
  name: string,
  overrides: readonly string[] = [],
): Promise<CliResult> {
  const result = await berth(url, serviceCreateArgs(name, overrides));
  if (result.code !== 0) throw new Error(`service create ${name} failed: ${result.stderr}`);
  return result;
}

/** A listener rule's one action: forward to each target group with its weight. */
export function forwardTo(weights: readonly (readonly [string, number])[]): Action[] {
  return [
    {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: weights.map(([TargetGroupArn, Weight]) => ({ TargetGroupArn, Weight })),
      },
    },
  ];
}

export const TRAFFIC_FLAGS = [
  '--listener-rule',
  'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/demo/0123456789abcdef/0123456789abcdef/0123456789abcdef',
  '--target-groups',
  'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123456789abcdef,arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/fedcba9876543210',
] as const;

export const SECRET_ARN =
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-password-AbCdEf';

/**
 * The one-container template (`app` on port 80, 256 CPU units, 512 MiB) that flags build, as a
 * SQL jsonb literal: for tests that insert releases straight into the table.
 */
export const ONE_CONTAINER_TEMPLATE_SQL = `'${JSON.stringify({
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [
    {
      name: 'app',
      essential: true,
      portMappings: [{ containerPort: 80, protocol: 'tcp' }],
      memory: 512,
    },
  ],
})}'::jsonb`;

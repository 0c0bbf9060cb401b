import { readListenerRule, type ListenerRuleReading } from '../../cloud/listener-rule.ts';
import { createSimulatedAws, simulatedClients } from '../../cloud/sim/index.ts';
import type { Db } from '../../store/database.ts';
import { InputError } from '../../validation/fields.ts';
import { quote } from '../../validation/quote.ts';
import type { CliContext } from '../context.ts';
import { bootstrapClients } from './infra.ts';
import { onSimulatedAws } from './warnings.ts';

/** A read of the rule that has not answered by then is given up: the workers check it anyway. */
const READ_TIMEOUT_MS = 5_000;

/**
 * `--listener-rule` and `--target-groups` checked against the cloud the service runs on, before
 * anything is written: a listener's default rule cannot be changed by ModifyRule (AWS answers
 * OperationNotPermitted, so every weight shift would fail), and Berth's tasks use awsvpc
 * networking, which registers them by IP: only target groups of type `ip` take them (AWS refuses
 * CreateTaskSet with an `instance` group). One read of the rule and one of the groups. When the
 * cloud cannot be asked (no credentials or network here), a warning says so and the workers'
 * own checks stand.
 */
export async function checkListenerRule(
  context: CliContext,
  db: Db,
  traffic: { listenerRule: string; targetGroups: readonly string[] },
): Promise<void> {
  const simulated = await onSimulatedAws(context, db);
  let reading: ListenerRuleReading;
  if (simulated) {
    const sim = createSimulatedAws(db, { seed: context.environment.simSeed });
    const { elbv2 } = simulatedClients(sim);
    reading = await readListenerRule(
      elbv2,
      traffic.listenerRule,
      traffic.targetGroups,
      READ_TIMEOUT_MS,
    ).catch((error: unknown) => unanswered(context, error, 'the simulated AWS'));
  } else {
    const clients = bootstrapClients(context.io.env);
    try {
      reading = await readListenerRule(
        clients.elbv2,
        traffic.listenerRule,
        traffic.targetGroups,
        READ_TIMEOUT_MS,
      ).catch((error: unknown) => unanswered(context, error, 'AWS'));
    } finally {
      for (const client of [clients.ecs, clients.elbv2, clients.ecr, clients.ec2]) {
        client.destroy();
      }
    }
  }
  refuseMisfit(reading, traffic);
}

function unanswered(context: CliContext, error: unknown, cloud: string): ListenerRuleReading {
  const message = error instanceof Error ? error.message : String(error);
  context.warn(
    `could not check --listener-rule and --target-groups against ${cloud} (${message.split('\n')[0] ?? ''}); the workers check them on every pass`,
  );
  return { kind: 'rule', targetTypes: new Map() };
}

function refuseMisfit(
  reading: ListenerRuleReading,
  traffic: { listenerRule: string; targetGroups: readonly string[] },
): void {
  const rule = quote(traffic.listenerRule);
  switch (reading.kind) {
    case 'no-rule':
      throw new InputError('--listener-rule', `${rule} names no listener rule (RuleNotFound)`);
    case 'default-rule':
      throw new InputError(
        '--listener-rule',
        `${rule} is its listener's default rule, which AWS lets change only through ModifyListener (ModifyRule answers OperationNotPermitted); give a rule with a priority, such as one berth infra bootstrap makes`,
      );
    case 'no-target-group':
      throw new InputError(
        '--target-groups',
        `${traffic.targetGroups.map(quote).join(', ')}: at least one names no target group (TargetGroupNotFound)`,
      );
    case 'rule':
      for (const [arn, type] of reading.targetTypes) {
        if (type === 'ip') continue;
        throw new InputError(
          '--target-groups',
          `${quote(arn)} has target type ${type}; Berth's tasks use awsvpc networking and register by IP address, which only a target group of type ip takes (AWS refuses CreateTaskSet with an ${type} group)`,
        );
      }
  }
}

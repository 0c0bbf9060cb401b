import {
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';

/** What ELB says of a listener rule and the target groups a service would shift traffic between. */
export type ListenerRuleReading =
  | { kind: 'no-rule' }
  | { kind: 'default-rule' }
  | { kind: 'no-target-group' }
  | { kind: 'rule'; targetTypes: Map<string, string> };

/**
 * One read of the rule (DescribeRules) and one of the target groups (DescribeTargetGroups),
 * each abandoned after `timeoutMs`. A rule or group that does not exist is an answer; any other
 * failure (no credentials, no network, access denied) is thrown for the caller to judge.
 */
export async function readListenerRule(
  elbv2: ElasticLoadBalancingV2Client,
  ruleArn: string,
  targetGroupArns: readonly string[],
  timeoutMs: number,
): Promise<ListenerRuleReading> {
  const options = () => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  let isDefault: boolean;
  try {
    const rules = await elbv2.send(new DescribeRulesCommand({ RuleArns: [ruleArn] }), options());
    isDefault = rules.Rules?.[0]?.IsDefault === true;
  } catch (error) {
    if ((error as { name?: string }).name === 'RuleNotFoundException') return { kind: 'no-rule' };
    throw error;
  }
  if (isDefault) return { kind: 'default-rule' };
  try {
    const groups = await elbv2.send(
      new DescribeTargetGroupsCommand({ TargetGroupArns: [...targetGroupArns] }),
      options(),
    );
    const targetTypes = new Map<string, string>();
    for (const group of groups.TargetGroups ?? []) {
      if (group.TargetGroupArn !== undefined) {
        targetTypes.set(group.TargetGroupArn, group.TargetType ?? 'instance');
      }
    }
    return { kind: 'rule', targetTypes };
  } catch (error) {
    if ((error as { name?: string }).name === 'TargetGroupNotFoundException') {
      return { kind: 'no-target-group' };
    }
    throw error;
  }
}

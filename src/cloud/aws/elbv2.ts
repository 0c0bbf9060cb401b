import {
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  ModifyRuleCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { RuleWeights } from '../cloud.ts';
import { AwsService } from './call.ts';

/**
 * Rules asked for in one DescribeRules: AWS documents no limit on RuleArns, so this stays at a
 * size that an idle batch of services fills (ten to a DescribeServices, their rules together).
 */
const RULES_PER_CALL = 20;

/** The ELBv2 calls Berth makes: listener rules' weights and target health. */
export class AwsElbv2 extends AwsService<ElasticLoadBalancingV2Client> {
  async readRuleWeights(ruleArn: string): Promise<RuleWeights> {
    const [rule] = await this.#describeRules([ruleArn], ruleArn);
    return forwardWeights(rule?.Actions ?? []);
  }

  async readRulesWeights(ruleArns: readonly string[]): Promise<Map<string, RuleWeights>> {
    const unique = [...new Set(ruleArns)];
    const found = new Map<string, RuleWeights>();
    for (let i = 0; i < unique.length; i += RULES_PER_CALL) {
      const chunk = unique.slice(i, i + RULES_PER_CALL);
      for (const rule of await this.#describeRules(chunk, `${chunk.length} listener rules`)) {
        if (rule.RuleArn !== undefined) found.set(rule.RuleArn, forwardWeights(rule.Actions ?? []));
      }
    }
    return found;
  }

  /**
   * DescribeRules of the rules named, every page: ELB pages its Describe answers (`NextMarker`)
   * whatever was asked for, so a page is never taken for the whole answer.
   */
  async #describeRules(ruleArns: string[], resource: string): Promise<Rule[]> {
    const rules: Rule[] = [];
    let marker: string | undefined;
    do {
      const from = marker;
      const output = await this.call('elbv2:DescribeRules', resource, (options) =>
        this.client.send(
          new DescribeRulesCommand({
            RuleArns: ruleArns,
            ...(from !== undefined ? { Marker: from } : {}),
          }),
          options,
        ),
      );
      rules.push(...(output.Rules ?? []));
      marker = output.NextMarker === '' ? undefined : output.NextMarker;
    } while (marker !== undefined);
    return rules;
  }

  async setRuleWeights(ruleArn: string, weights: RuleWeights): Promise<void> {
    await this.call('elbv2:ModifyRule', ruleArn, (options) =>
      this.client.send(
        new ModifyRuleCommand({
          RuleArn: ruleArn,
          Actions: [
            {
              Type: 'forward',
              ForwardConfig: {
                TargetGroups: Object.entries(weights).map(([TargetGroupArn, Weight]) => ({
                  TargetGroupArn,
                  Weight,
                })),
              },
            },
          ],
        }),
        options,
      ),
    );
  }

  async healthyTargetCount(targetGroupArn: string): Promise<number> {
    const output = await this.call('elbv2:DescribeTargetHealth', targetGroupArn, (options) =>
      this.client.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }),
        options,
      ),
    );
    return (output.TargetHealthDescriptions ?? []).filter(
      (target) => target.TargetHealth?.State === 'healthy',
    ).length;
  }
}

/** Target group → weight of a rule's forward action (a plain forward has weight 1). */
function forwardWeights(actions: readonly Action[]): RuleWeights {
  const weights: RuleWeights = {};
  for (const action of actions) {
    if (action.Type !== 'forward') continue;
    for (const group of action.ForwardConfig?.TargetGroups ?? []) {
      if (group.TargetGroupArn !== undefined) weights[group.TargetGroupArn] = group.Weight ?? 1;
    }
    if (action.ForwardConfig === undefined && action.TargetGroupArn !== undefined) {
      weights[action.TargetGroupArn] = 1;
    }
  }
  return weights;
}

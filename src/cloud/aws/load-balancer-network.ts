import {
  DescribeLoadBalancersCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { LoadBalancerNetwork } from '../cloud.ts';
import type { AwsCall } from './call.ts';

/**
 * The load balancer a listener rule belongs to, by its ARN: `…:listener-rule/app/NAME/LB_ID/…`
 * names `…:loadbalancer/app/NAME/LB_ID`.
 */
export function loadBalancerArnOfRule(ruleArn: string): string | undefined {
  const match =
    /^(arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:)listener-rule\/(app\/[^/]+\/[^/]+)\//.exec(
      ruleArn,
    );
  return match === null ? undefined : `${match[1] ?? ''}loadbalancer/${match[2] ?? ''}`;
}

/** The network of the load balancer `ruleArn` belongs to; undefined when it does not exist. */
export async function loadBalancerNetwork(
  call: AwsCall,
  elbv2: ElasticLoadBalancingV2Client,
  ruleArn: string,
): Promise<LoadBalancerNetwork | undefined> {
  const arn = loadBalancerArnOfRule(ruleArn);
  if (arn === undefined) return undefined;
  try {
    const output = await call('elbv2:DescribeLoadBalancers', `load balancer ${arn}`, (options) =>
      elbv2.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [arn] }), options),
    );
    const balancer = output.LoadBalancers?.[0];
    if (balancer === undefined) return undefined;
    return {
      loadBalancerArn: arn,
      subnets: (balancer.AvailabilityZones ?? []).flatMap((zone) =>
        zone.SubnetId !== undefined ? [zone.SubnetId] : [],
      ),
      securityGroups: balancer.SecurityGroups ?? [],
    };
  } catch (error) {
    if ((error as { name?: string }).name === 'LoadBalancerNotFoundException') return undefined;
    throw error;
  }
}

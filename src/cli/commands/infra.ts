import { EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { IAMClient } from '@aws-sdk/client-iam';
import { awsClients } from '../../cloud/aws-cloud.ts';
import {
  bootstrapInfrastructure,
  ecrRepositoryImage,
  type BootstrapClients,
  type BootstrapResult,
  type BootstrapServiceSpec,
  SERVICES_PER_LOAD_BALANCER,
} from '../../cloud/bootstrap.ts';
import {
  InputError,
  parseClusterName,
  parsePort,
  parseServiceName,
} from '../../validation/fields.ts';
import { quote } from '../../validation/quote.ts';
import type { CliContext } from '../context.ts';

/** The flags of `berth infra bootstrap`, as commander hands them over. */
export interface InfraBootstrapFlags {
  cluster?: string;
  loadBalancer?: string;
  service?: string[];
}

const SERVICE_SHAPE = 'NAME:PORT[:IMAGE_REPO:TAG], e.g. web:8080 or web:8080:web:v1';

/** ALB names: 1 to 32 letters, digits and hyphens, no hyphen first or last, no `internal-`. */
const LOAD_BALANCER_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

/** ELB allows 128 characters in a path pattern; the service's is `/<name>/*`. */
const MAX_PATH_PATTERN = 128;

/**
 * `berth infra bootstrap`: the cluster, the shared load balancer and listener (another every 50
 * services, as ALB quotas require), and per service
 * two target groups, a listener rule and optionally an ECR repository with a placeholder image,
 * made (or found) through the AWS SDK. Prints the `berth service create` line for each service.
 * Touches no database.
 */
export async function infraBootstrap(
  context: CliContext,
  flags: InfraBootstrapFlags,
): Promise<number> {
  const spec = parseBootstrapFlags(flags);
  const clients = bootstrapClients(context.io.env);
  let result: BootstrapResult;
  try {
    result = await bootstrapInfrastructure(clients, spec, context.logger);
  } finally {
    for (const client of [clients.ecs, clients.elbv2, clients.ecr, clients.ec2, clients.iam])
      client?.destroy();
  }
  context.note(
    `cluster ${result.clusterArn}\n` +
      result.loadBalancers
        .map(
          (balancer, index) =>
            `load balancer ${balancer.arn}` +
            (index === 0 ? ` in ${result.vpcId} (${result.subnets.join(', ')})` : '') +
            `\nlistener ${balancer.listenerArn}`,
        )
        .join('\n') +
      (result.loadBalancers.length > 1
        ? `\n(${SERVICES_PER_LOAD_BALANCER} services a load balancer: ALB quotas allow 100 target groups and 100 rules)`
        : '') +
      (result.executionRoleArn !== undefined
        ? `\ntask execution role ${result.executionRoleArn} (ECR pulls and awslogs on Fargate)`
        : '') +
      '\nnext, create each service:',
  );
  const lines = result.services.map((service) => {
    const wanted = spec.services.find((entry) => entry.name === service.name);
    return serviceCreateLine(spec.cluster, wanted, service, result);
  });
  if (spec.services.some((service) => service.image === undefined)) {
    context.note('(replace IMAGE with the image to deploy)');
  }
  context.print({ json: result, text: lines.join('\n') });
  return 0;
}

/** Every flag checked before anything is called: exit 2 naming the flag. */
export function parseBootstrapFlags(flags: InfraBootstrapFlags): {
  cluster: string;
  loadBalancer: string;
  services: BootstrapServiceSpec[];
} {
  if (flags.cluster === undefined) {
    throw new InputError('--cluster', 'is required: the ECS cluster name or ARN');
  }
  const cluster = parseClusterName('--cluster', flags.cluster);
  if (flags.loadBalancer === undefined) {
    throw new InputError('--load-balancer', 'is required: the name of the load balancer to use');
  }
  const loadBalancer = parseLoadBalancerName('--load-balancer', flags.loadBalancer);
  const raw = flags.service ?? [];
  if (raw.length === 0) {
    throw new InputError('--service', `is required (repeatable): ${SERVICE_SHAPE}`);
  }
  const services: BootstrapServiceSpec[] = [];
  for (const value of raw) {
    const service = parseServiceSpec('--service', value);
    if (services.some((known) => known.name === service.name)) {
      throw new InputError('--service', `service ${service.name} is given more than once`);
    }
    services.push(service);
  }
  return { cluster, loadBalancer, services };
}

function parseLoadBalancerName(field: string, raw: string): string {
  if (!LOAD_BALANCER_NAME.test(raw) || raw.startsWith('internal-')) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid load balancer name; expected 1 to 32 letters, digits and hyphens, not starting or ending with a hyphen nor starting with internal-, e.g. berth`,
    );
  }
  return raw;
}

/** `NAME:PORT` or `NAME:PORT:IMAGE_REPO:TAG`. */
function parseServiceSpec(field: string, raw: string): BootstrapServiceSpec {
  const [name = '', port, ...image] = raw.split(':');
  if (port === undefined) {
    throw new InputError(field, `${quote(raw)} has no port; expected ${SERVICE_SHAPE}`);
  }
  const rethrow = (error: unknown): never => {
    if (!(error instanceof InputError)) throw error;
    const message = error.message.slice(error.field.length + 2);
    throw new InputError(field, `${message} (in ${quote(raw)}; expected ${SERVICE_SHAPE})`, {
      cause: error,
    });
  };
  let service: BootstrapServiceSpec;
  try {
    service = { name: parseServiceName(field, name), port: parsePort(field, port) };
  } catch (error) {
    return rethrow(error);
  }
  if (`/${service.name}/*`.length > MAX_PATH_PATTERN) {
    throw new InputError(
      field,
      `service name ${quote(service.name)} is too long for its path pattern /NAME/* (at most ${MAX_PATH_PATTERN} characters)`,
    );
  }
  if (image.length === 0) return service;
  const reference = image.join(':');
  if (image.length !== 2 || ecrRepositoryImage(reference) === undefined) {
    throw new InputError(
      field,
      `${quote(reference)} in ${quote(raw)} is not IMAGE_REPO:TAG with an ECR repository name (lowercase letters and digits separated by ., _, - or /, 2 to 256 characters) and a tag; expected ${SERVICE_SHAPE}`,
    );
  }
  return { ...service, image: reference };
}

function serviceCreateLine(
  cluster: string,
  spec: BootstrapServiceSpec | undefined,
  service: BootstrapResult['services'][number],
  result: Pick<BootstrapResult, 'subnets' | 'securityGroups' | 'loadBalancers'>,
): string {
  // The service's tasks run in its own load balancer's groups (the family's share the VPC's).
  const own = result.loadBalancers.find((balancer) => balancer.arn === service.loadBalancerArn);
  const securityGroups =
    own !== undefined && own.securityGroups.length > 0 ? own.securityGroups : result.securityGroups;
  const { subnets } = result;
  const tag = spec?.image === undefined ? undefined : ecrRepositoryImage(spec.image)?.tag;
  const image =
    service.repositoryUri !== undefined && tag !== undefined
      ? `${service.repositoryUri}:${tag}`
      : (spec?.image ?? 'IMAGE');
  return [
    'berth service create',
    service.name,
    `--cluster ${cluster}`,
    `--image ${image}`,
    `--port ${spec?.port ?? 'PORT'}`,
    `--listener-rule ${service.listenerRuleArn}`,
    `--target-groups ${service.targetGroupArns.join(',')}`,
    // ECS refuses awsvpc tasks without a network: the load balancer's.
    `--subnets ${subnets.join(',')}`,
    `--security-groups ${securityGroups.length > 0 ? securityGroups.join(',') : 'SECURITY_GROUP'}`,
  ].join(' ');
}

/**
 * Berth's SDK clients plus EC2, all with the standard AWS configuration (credentials chain,
 * region, AWS_ENDPOINT_URL). The SDK reads that configuration from `process.env`; a CLI run
 * with an environment of its own (the in-process tests) has the standard variables it sets
 * passed on explicitly, so that it talks to the endpoint its own environment names.
 */
export function bootstrapClients(env: NodeJS.ProcessEnv): BootstrapClients {
  if (env === process.env) {
    const { ecs, elbv2, ecr, iam, cloudwatch, sts, logs } = awsClients();
    for (const unused of [cloudwatch, sts, logs]) unused.destroy();
    return { ecs, elbv2, ecr, iam, ec2: new EC2Client({ maxAttempts: 1 }) };
  }
  const config = (service: string) => {
    const set = (name: string): string | undefined => {
      const value = env[name];
      return value === undefined || value.trim() === '' ? undefined : value;
    };
    const endpoint =
      set('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS') === 'true'
        ? undefined
        : (set(`AWS_ENDPOINT_URL_${service}`) ?? set('AWS_ENDPOINT_URL'));
    const region = set('AWS_REGION');
    const profile = set('AWS_PROFILE');
    const accessKeyId = set('AWS_ACCESS_KEY_ID');
    const secretAccessKey = set('AWS_SECRET_ACCESS_KEY');
    const sessionToken = set('AWS_SESSION_TOKEN');
    return {
      // One retry policy for every cloud, as in awsClients: see withRetries.
      maxAttempts: 1,
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      ...(profile !== undefined ? { profile } : {}),
      ...(accessKeyId !== undefined && secretAccessKey !== undefined
        ? {
            credentials: {
              accessKeyId,
              secretAccessKey,
              ...(sessionToken !== undefined ? { sessionToken } : {}),
            },
          }
        : {}),
    };
  };
  return {
    ecs: new ECSClient(config('ECS')),
    elbv2: new ElasticLoadBalancingV2Client(config('ELASTIC_LOAD_BALANCING_V2')),
    ecr: new ECRClient(config('ECR')),
    ec2: new EC2Client(config('EC2')),
    iam: new IAMClient(config('IAM')),
  };
}

import type {
  ContainerDefinition,
  LogConfiguration,
  RegisterTaskDefinitionCommandInput,
} from '@aws-sdk/client-ecs';
import { flagTemplate, type TaskDefinitionTemplate } from '../validation/task-definition.ts';

/** The tag a registered revision carries its content hash in. */
export const CONTENT_HASH_TAG = 'berth:content-hash';

/** Where containers without a logConfiguration of their own send their logs. */
export const BERTH_LOG_STREAM_PREFIX = 'berth';

/** One container as it runs in a release: its image (pinned when resolved), environment, secrets. */
export interface ContainerRun {
  image: string;
  environment: Record<string, string>;
  /** name → Secrets Manager / SSM ARN, passed as `secrets[].valueFrom`, never resolved here. */
  secrets: Record<string, string>;
}

/** Everything a release's task definition is made of. */
export interface TaskDefinitionSpec {
  family: string;
  /** The team's template (or the one flags built), without images, environment or secrets. */
  template: TaskDefinitionTemplate;
  /** Every container of the template by name. */
  containers: Record<string, ContainerRun>;
  /** The awslogs group of containers that have no logConfiguration of their own. */
  logGroup: string;
  /** Identifies the content: a revision with this hash is reused instead of registering again. */
  contentHash: string;
}

/**
 * The RegisterTaskDefinition input of a release: the template as written, the family Berth's,
 * each container given its image, environment and secrets, and — where a container has no
 * logConfiguration — the awslogs driver (streams `berth/CONTAINER/TASK_ID`, the group made by
 * ECS on first use, which the execution role must be allowed: logs:CreateLogGroup). A template's
 * own log configuration is never changed. Pure: the adapter sends it, the tests read it.
 */
export function registrationInput(
  spec: TaskDefinitionSpec,
  region: string,
): RegisterTaskDefinitionCommandInput {
  const { containerDefinitions, tags, ...task } = spec.template;
  const userTags = Array.isArray(tags)
    ? (tags as { key?: string; value?: string }[]).filter((tag) => tag.key !== CONTENT_HASH_TAG)
    : [];
  return {
    ...(task as Omit<RegisterTaskDefinitionCommandInput, 'family' | 'containerDefinitions'>),
    family: spec.family,
    containerDefinitions: containerDefinitions.map((container) => {
      const run = spec.containers[container.name];
      if (run === undefined) {
        throw new Error(`release has no image for container ${container.name} of ${spec.family}`);
      }
      return {
        ...(container as ContainerDefinition),
        image: run.image,
        environment: Object.entries(run.environment).map(([name, value]) => ({ name, value })),
        secrets: Object.entries(run.secrets).map(([name, valueFrom]) => ({ name, valueFrom })),
        logConfiguration:
          (container.logConfiguration as LogConfiguration | undefined) ??
          defaultLogConfiguration(spec.logGroup, region),
      };
    }),
    tags: [...userTags, { key: CONTENT_HASH_TAG, value: spec.contentHash }],
  };
}

function defaultLogConfiguration(group: string, region: string): LogConfiguration {
  return {
    logDriver: 'awslogs',
    options: {
      'awslogs-group': group,
      'awslogs-region': region,
      'awslogs-stream-prefix': BERTH_LOG_STREAM_PREFIX,
      'awslogs-create-group': 'true',
    },
  };
}

/** A one-container task definition described by its parts, as flags describe one. */
export interface OneContainerTaskDefinition {
  family: string;
  containerName: string;
  image: string;
  containerPort: number;
  cpu: number;
  memory: number;
  launchType: 'FARGATE' | 'EC2';
  environment: Record<string, string>;
  secrets: Record<string, string>;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
  contentHash: string;
  logGroup?: string;
}

/** The spec of a one-container task definition (what flags build; tests and benchmarks). */
export function oneContainerSpec(parts: OneContainerTaskDefinition): TaskDefinitionSpec {
  return {
    family: parts.family,
    template: flagTemplate({
      container: parts.containerName,
      port: parts.containerPort,
      cpu: parts.cpu,
      memory: parts.memory,
      launchType: parts.launchType,
      taskRoleArn: parts.taskRoleArn,
      executionRoleArn: parts.executionRoleArn,
    }),
    containers: {
      [parts.containerName]: {
        image: parts.image,
        environment: parts.environment,
        secrets: parts.secrets,
      },
    },
    logGroup: parts.logGroup ?? `/berth/${parts.family}`,
    contentHash: parts.contentHash,
  };
}

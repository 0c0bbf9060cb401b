import { awsClients } from '../../cloud/aws-cloud.ts';
import { EcsAlbStandIn } from '../../cloud/stand-in/ecs-alb-stand-in.ts';
import { createLogger } from '../../logging.ts';
import { InputError, parseClusterName, parseCount } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';

/** The flags of `berth stand-in`, as commander hands them over. */
export interface StandInFlags {
  cluster?: string[];
  requestsPerSecond?: string;
}

/** Why the stand-in refuses to run without an emulator's endpoint. */
export const STAND_IN_NEEDS_EMULATOR =
  'is not set: berth stand-in plays ECS and the ALB for an AWS emulator such as moto, and never ' +
  'runs against AWS itself; set it to the emulator, e.g. http://127.0.0.1:5000';

/**
 * `berth stand-in`: until SIGINT/SIGTERM, plays for an AWS emulator the part of ECS and the ALB
 * that it lacks — tasks that run, targets that register, the ALB metrics the rule's weights
 * imply — so that `berth worker` completes rollouts against it (the compose stack's moto profile).
 */
export async function standIn(context: CliContext, flags: StandInFlags): Promise<number> {
  const endpoint = context.io.env['AWS_ENDPOINT_URL'];
  // Real ALBs and ECS do this themselves; fake targets and metrics there would be harm.
  if (endpoint === undefined || endpoint.trim() === '')
    throw new InputError('AWS_ENDPOINT_URL', STAND_IN_NEEDS_EMULATOR);
  const clusters = flags.cluster?.map((cluster) => parseClusterName('--cluster', cluster));
  const requestsPerSecond =
    flags.requestsPerSecond === undefined
      ? 50
      : parseCount('--requests-per-second', flags.requestsPerSecond, { min: 1, max: 100_000 });
  const logger = createLogger({
    level: context.environment.logLevel ?? 'info',
    name: 'berth-stand-in',
    format: context.environment.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json'),
  });
  const stand = new EcsAlbStandIn(awsClients(), {
    clusters,
    requestsPerSecond,
    tickMs: 1000,
    logger,
  });
  context.note(
    `standing in for ECS and the ALB at ${endpoint}: tasks, targets and ${requestsPerSecond} ` +
      `requests/second per service on ${clusters === undefined ? 'every cluster' : clusters.join(', ')}; Ctrl-C stops`,
  );
  await stand.run(context.io.signal);
  context.note('stand-in stopped');
  return 0;
}

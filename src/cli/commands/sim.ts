import { pushSimulatedImage } from '../../cloud/sim/push.ts';
import { appendEvent } from '../../store/events.ts';
import { InputError, parseRepositoryTag } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';

/** Said when `berth sim …` is asked of a real cloud, where it would change nothing. */
export const NOT_THE_SIM =
  'berth sim works on the simulated AWS only, and BERTH_CLOUD is aws; push to ECR with docker push';

/**
 * `berth sim push REPO:TAG`: a new image in the simulated ECR, so that a demo or a test can show
 * a push becoming a rollout (services that `--follow` the repository). Its tasks behave as its
 * tag says (`5xx`, `slow`, `crash`, else healthy).
 */
export async function simPush(context: CliContext, rawImage: string): Promise<number> {
  const target = parseRepositoryTag('REPO:TAG', rawImage);
  if (context.environment.cloud === 'aws') throw new InputError('BERTH_CLOUD', NOT_THE_SIM);
  const pushed = await context.withDatabase(async (db) => {
    const push = await pushSimulatedImage(db, target, {
      seed: context.environment.simSeed,
      logger: context.logger,
    });
    await appendEvent(db, {
      serviceId: null,
      actor: context.actor,
      kind: 'sim.image_pushed',
      message: `${push.image} pushed to the simulated ECR as ${push.digest}`,
      data: { ...target, digest: push.digest, createdRepository: push.createdRepository },
    });
    return push;
  });
  context.print({
    json: {
      ...target,
      image: pushed.image,
      digest: pushed.digest,
      createdRepository: pushed.createdRepository,
    },
    text:
      `pushed ${pushed.image} (${pushed.digest})` +
      (pushed.createdRepository ? `; repository ${target.repository} created` : ''),
  });
  return 0;
}

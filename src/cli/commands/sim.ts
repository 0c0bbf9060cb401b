import { pushSimulatedImage } from '../../cloud/sim/push.ts';
import { appendEvent } from '../../store/events.ts';
import { followersOf } from '../../store/follow.ts';
import { tagMatches } from '../../validation/follow.ts';
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
    // Who will deploy it: the workers notice a push at their next look, not at once.
    const followers = (await followersOf(db, target.repository)).filter((follower) =>
      tagMatches(follower.tagPattern, target.tag),
    );
    return { ...push, followers: followers.map((follower) => follower.name) };
  });
  context.print({
    json: {
      ...target,
      image: pushed.image,
      digest: pushed.digest,
      createdRepository: pushed.createdRepository,
      followers: pushed.followers,
    },
    text:
      `pushed ${pushed.image} (${pushed.digest})` +
      (pushed.createdRepository ? `; repository ${target.repository} created` : '') +
      (pushed.followers.length > 0
        ? `\nfollowed by ${pushed.followers.join(', ')}: the workers deploy it at their next look` +
          ` (every ${context.environment.followIntervalSeconds ?? 3}s here); watch it with` +
          ` npx berth watch ${pushed.followers[0] ?? ''} --next`
        : `\nno service follows ${target.repository} with a pattern matching ${target.tag}`),
  });
  return 0;
}

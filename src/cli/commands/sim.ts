import { appFollowersOf } from '../../store/apps-follow.ts';
import { pushSimulatedImage } from '../../cloud/sim/push.ts';
import { setSimulatedAlarm } from '../../cloud/sim/set-alarm.ts';
import { parseAlarmName } from '../../validation/alarm.ts';
import { quote } from '../../validation/quote.ts';
import { appendEvent } from '../../store/events.ts';
import { followersOf } from '../../store/follow.ts';
import { tagMatches } from '../../validation/follow.ts';
import { InputError, parseRepositoryTag } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';

/** Said when `berth sim …` is asked of a real cloud, where it would change nothing. */
export const NOT_THE_SIM =
  'berth sim works on the simulated AWS only, and BERTH_CLOUD is aws; push to ECR with docker push';

/** Said when `berth sim alarm` is asked of a real cloud. */
export const NOT_THE_SIM_ALARM =
  'berth sim works on the simulated AWS only, and BERTH_CLOUD is aws; set a real alarm with aws cloudwatch set-alarm-state';

/**
 * `berth sim alarm NAME ALARM|OK`: a simulated CloudWatch alarm's state (made first when there is
 * none of that name), so that a demo or a test can fail a canary that watches it (`--alarm`).
 */
export async function simAlarm(
  context: CliContext,
  rawName: string,
  rawState: string,
): Promise<number> {
  const name = parseAlarmName('NAME', rawName);
  if (rawState !== 'ALARM' && rawState !== 'OK') {
    throw new InputError('STATE', `${quote(rawState)} is not a state to set; expected ALARM or OK`);
  }
  const state = rawState;
  if (context.environment.cloud === 'aws') throw new InputError('BERTH_CLOUD', NOT_THE_SIM_ALARM);
  const change = await context.withDatabase(async (db) => {
    const set = await setSimulatedAlarm(
      db,
      { name, state, actor: context.actor },
      { seed: context.environment.simSeed, logger: context.logger },
    );
    await appendEvent(db, {
      serviceId: null,
      actor: context.actor,
      kind: 'sim.alarm_set',
      message: `simulated alarm ${name} set to ${state}`,
      data: { ...set },
    });
    return set;
  });
  context.print({
    json: change,
    text:
      `alarm ${name} set to ${state}` +
      (change.created ? ' (made: there was no alarm of that name)' : '') +
      '; canaries that watch it (--alarm) see it at their next pass',
  });
  return 0;
}

/**
 * `berth sim push REPO:TAG`: a new image in the simulated ECR, so that a demo or a test can show
 * a push becoming a rollout (services that `--follow` the repository). Its tasks behave as its
 * tag says (`5xx`, `slow`, `crash`, `exit`, `alarm`, else healthy).
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
    const matching = (follower: { tagPattern: string }) =>
      tagMatches(follower.tagPattern, target.tag);
    const services = (await followersOf(db, target.repository)).filter(matching);
    const apps = (await appFollowersOf(db, target.repository)).filter(matching);
    return {
      ...push,
      followers: [...services, ...apps].map((follower) => follower.name),
      apps: apps.map((app) => app.name),
    };
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
          (pushed.apps.includes(pushed.followers[0] ?? '')
            ? ` npx berth status ${pushed.followers[0] ?? ''}`
            : ` npx berth watch ${pushed.followers[0] ?? ''} --next`)
        : `\nno service or app follows ${target.repository} with a pattern matching ${target.tag}`),
  });
  return 0;
}

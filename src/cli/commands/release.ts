import type { Db } from '../../store/database.ts';
import {
  changeConfig,
  controlDeployment,
  deployImage,
  rollbackService,
  scaleService,
  type RequestedRelease,
} from '../../store/desired-state.ts';
import type { Control } from '../../store/deployments.ts';
import { serviceHistory } from '../../store/history.ts';
import { findService } from '../../store/services.ts';
import {
  InputError,
  parseCount,
  parseEnvAssignment,
  parseEnvKey,
  parseImageRef,
  parseMessage,
  parseReleaseVersion,
  parseSecretAssignment,
  parseServiceName,
} from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import { deploymentJson, releaseJson, serviceJson } from '../render.ts';
import { waitForDeployment } from '../wait.ts';
import { warnMutableTag } from './warnings.ts';

interface WaitFlag {
  wait?: boolean;
}

export async function deploy(
  context: CliContext,
  rawName: string,
  flags: { image: string; message?: string; replace?: boolean } & WaitFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const image = parseImageRef('--image', flags.image);
  const message = flags.message === undefined ? null : parseMessage('--message', flags.message);
  return context.withDatabase(async (db) => {
    const requested = await deployImage(db, {
      actor: context.actor,
      name,
      image: image.reference,
      imageDigest: image.digest ?? null,
      message,
      replace: flags.replace === true,
    });
    return reportRequested(context, db, requested, flags.wait === true, () => {
      warnMutableTag(context, '--image', flags.image);
    });
  });
}

export async function configSet(
  context: CliContext,
  rawName: string,
  assignments: string[],
  flags: { secret?: string[]; replace?: boolean } & WaitFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const set: Record<string, string> = {};
  for (const assignment of assignments) {
    const [key, value] = parseEnvAssignment('KEY=VALUE', assignment);
    set[key] = value;
  }
  const secrets: Record<string, string> = {};
  for (const assignment of flags.secret ?? []) {
    const [key, arn] = parseSecretAssignment('--secret', assignment);
    if (key in set) {
      throw new InputError(
        '--secret',
        `${key} is given both as a value and as a secret; choose one`,
      );
    }
    secrets[key] = arn;
  }
  if (Object.keys(set).length === 0 && Object.keys(secrets).length === 0) {
    throw new InputError('KEY=VALUE', 'give at least one KEY=VALUE or --secret KEY=ARN');
  }
  return context.withDatabase(async (db) => {
    const requested = await changeConfig(db, {
      actor: context.actor,
      name,
      change: { set, secrets, unset: [] },
      replace: flags.replace === true,
    });
    return reportRequested(context, db, requested, flags.wait === true);
  });
}

export async function configUnset(
  context: CliContext,
  rawName: string,
  keys: string[],
  flags: { replace?: boolean } & WaitFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const unset = keys.map((key) => parseEnvKey('KEY', key));
  return context.withDatabase(async (db) => {
    const requested = await changeConfig(db, {
      actor: context.actor,
      name,
      change: { set: {}, secrets: {}, unset },
      replace: flags.replace === true,
    });
    return reportRequested(context, db, requested, flags.wait === true);
  });
}

/** The configuration of the release the service is heading to (or runs, when nothing is). */
export async function configShow(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const history = await context.withDatabase(async (db) =>
    serviceHistory(db, await findService(db, name)),
  );
  const targetId = history.active?.to_release_id ?? history.service.current_release_id;
  const release =
    history.releases.find((candidate) => candidate.id === targetId) ?? history.releases[0];
  if (release === undefined) throw new Error(`service ${name} has no release`);
  const keys = [...Object.keys(release.environment), ...Object.keys(release.secrets)].sort();
  context.print({
    json: { version: release.version, environment: release.environment, secrets: release.secrets },
    text:
      `v${release.version}` +
      (keys.length === 0
        ? ': no environment variables'
        : `\n${keys
            .map((key) =>
              key in release.secrets
                ? `${key} = secret ${release.secrets[key] ?? ''}`
                : `${key}=${release.environment[key] ?? ''}`,
            )
            .join('\n')}`),
  });
  return 0;
}

export async function rollback(
  context: CliContext,
  rawName: string,
  flags: { to?: string; message?: string } & WaitFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const toVersion = flags.to === undefined ? undefined : parseReleaseVersion('--to', flags.to);
  const message = flags.message === undefined ? null : parseMessage('--message', flags.message);
  return context.withDatabase(async (db) => {
    const requested = await rollbackService(db, {
      actor: context.actor,
      name,
      toVersion,
      message,
    });
    return reportRequested(context, db, { ...requested, replaced: undefined }, flags.wait === true);
  });
}

export async function scale(
  context: CliContext,
  rawName: string,
  rawCount: string,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const desiredCount = parseCount('COUNT', rawCount, { min: 0, max: 5000 });
  const { service, previousCount } = await context.withDatabase((db) =>
    scaleService(db, { actor: context.actor, name, desiredCount }),
  );
  context.print({
    json: { service: serviceJson(service), previousCount },
    text: `${name}: desired count ${previousCount} → ${service.desired_count}`,
  });
  return 0;
}

export async function control(
  context: CliContext,
  rawName: string,
  what: Control,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const { deployment } = await context.withDatabase((db) =>
    controlDeployment(db, { actor: context.actor, name, control: what }),
  );
  const done = {
    promote: 'promote requested: the workers skip the remaining steps',
    abort: 'abort requested: the workers roll the deployment back',
    pause: 'paused: the workers hold the deployment at its current step',
    resume: 'resumed',
  }[what];
  context.print({
    json: { deploymentId: deployment.id, control: what },
    text: `${name} deployment #${deployment.id}: ${done}`,
  });
  return 0;
}

async function reportRequested(
  context: CliContext,
  db: Db,
  requested: RequestedRelease,
  wait: boolean,
  /** Warnings about the request, said once it is recorded and before any wait. */
  warn: () => void = () => undefined,
): Promise<number> {
  const { service, release, deployment, replaced } = requested;
  const versions = new Map([[release.id, release.version]]);
  const verb = deployment.kind === 'rollback' ? 'rollback to' : 'release';
  context.print(
    {
      json: {
        release: releaseJson(release),
        deployment: deploymentJson(deployment, versions),
        replacedDeploymentId: replaced?.id ?? null,
      },
      text:
        `${service.name}: ${verb} v${release.version} requested as deployment #${deployment.id}` +
        (replaced !== undefined ? ` (replacing #${replaced.id})` : ''),
    },
    // Waiting, JSON lines follow the request: one line for it too, so that every line parses.
    { lines: wait },
  );
  warn();
  if (!wait) return 0;
  const finished = await waitForDeployment(context, db, deployment.id, service);
  if (finished === undefined) return 130;
  return finished.outcome === 'succeeded' ? 0 : 1;
}

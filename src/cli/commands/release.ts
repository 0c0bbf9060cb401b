import type { Db } from '../../store/database.ts';
import { changeConfig } from '../../store/config-change.ts';
import { controlDeployment, rollbackService, scaleService } from '../../store/control.ts';
import { deployImage, type ContainerImage } from '../../store/deploy.ts';
import { changeService } from '../../store/services-write.ts';
import type { RequestedRelease } from '../../store/write-transaction.ts';
import type { Control } from '../../store/deployments.ts';
import { serviceHistory } from '../../store/history.ts';
import { findService } from '../../store/services.ts';
import { findRelease } from '../../store/releases.ts';
import type { Release } from '../../store/schema.ts';
import { parseContainerName, type ParsedTemplate } from '../../validation/task-definition.ts';
import { printDryRun } from '../release-diff.ts';
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
import { abortOnInterrupt } from '../app-wait.ts';
import { appNamed } from '../../store/apps.ts';
import { warnMutableTag } from './warnings.ts';

interface WaitFlag {
  wait?: boolean;
}

interface DryRunFlag {
  dryRun?: boolean;
}

/**
 * `--image IMG` (the main container) and `--image CONTAINER=IMG` (repeatable): an `=` before any
 * `/` or `:` names a container, since an image reference has none there.
 */
export function parseImages(raw: readonly string[]): {
  main: ContainerImage | undefined;
  containers: Record<string, ContainerImage>;
} {
  let main: ContainerImage | undefined;
  const containers: Record<string, ContainerImage> = {};
  for (const entry of raw) {
    const eq = entry.indexOf('=');
    const named = eq > 0 && !/[/:@]/.test(entry.slice(0, eq));
    const image = parseImageRef('--image', named ? entry.slice(eq + 1) : entry);
    const value = { image: image.reference, imageDigest: image.digest ?? null };
    if (!named) {
      if (main !== undefined) {
        throw new InputError('--image', 'the main container is given two images; give it once');
      }
      main = value;
      continue;
    }
    const container = parseContainerName('--image', entry.slice(0, eq));
    if (container in containers) {
      throw new InputError('--image', `container ${container} is given two images; give it once`);
    }
    containers[container] = value;
  }
  if (main === undefined && Object.keys(containers).length === 0) {
    throw new InputError('--image', 'give an image: --image IMG or --image CONTAINER=IMG');
  }
  return { main, containers };
}

/** The images of `parseImages` as `deployImage` takes them. */
function requestedImages(images: ReturnType<typeof parseImages>): {
  image?: string;
  imageDigest?: string | null;
  containerImages: Record<string, ContainerImage>;
} {
  return {
    ...(images.main !== undefined
      ? { image: images.main.image, imageDigest: images.main.imageDigest }
      : {}),
    containerImages: images.containers,
  };
}

export async function deploy(
  context: CliContext,
  rawName: string,
  flags: {
    image?: string[];
    message?: string;
    replace?: boolean;
    abortOnInterrupt?: boolean;
  } & WaitFlag &
    DryRunFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  if (flags.abortOnInterrupt === true && flags.wait !== true) {
    throw new InputError('--abort-on-interrupt', 'goes with --wait (Ctrl-C while waiting aborts)');
  }
  return context.withDatabase(async (db) => {
    if ((await appNamed(db, name)) !== undefined) {
      const { deployAppCommand } = await import('./app.ts');
      return deployAppCommand(context, db, name, flags);
    }
    const images = parseImages(flags.image ?? []);
    const message = flags.message === undefined ? null : parseMessage('--message', flags.message);
    const requested = await deployImage(db, {
      actor: context.actor,
      name,
      ...requestedImages(images),
      message,
      replace: flags.replace === true,
      dryRun: flags.dryRun === true,
    });
    if (flags.dryRun === true) return dryRunReport(context, db, requested);
    return reportRequested(
      context,
      db,
      requested,
      flags.wait === true,
      () => {
        for (const given of [images.main, ...Object.values(images.containers)]) {
          if (given !== undefined && given.imageDigest === null) {
            warnMutableTag(context, '--image', given.image);
          }
        }
      },
      flags.abortOnInterrupt === true,
    );
  });
}

/** `berth diff`: what a deploy of these images, or this template, would change; read-only. */
export async function diff(
  context: CliContext,
  rawName: string,
  flags: { image?: string[]; exitCode?: boolean; taskDefinition?: string; container?: string },
  /** The template `--task-definition` names; `port` picks its main container as the live one's. */
  templateOf: (
    db: Db,
    port: number | undefined,
    worker: boolean,
  ) => Promise<ParsedTemplate | undefined>,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const images = flags.image === undefined ? undefined : parseImages(flags.image);
  return context.withDatabase(async (db) => {
    const service = await findService(db, name);
    const live =
      service.current_release_id !== null
        ? await findRelease(db, service.current_release_id)
        : undefined;
    const template = await templateOf(
      db,
      live?.container_port ?? undefined,
      service.kind === 'worker',
    );
    let next: Release | undefined;
    if (template !== undefined) {
      const changed = await changeService(db, {
        actor: context.actor,
        name,
        update: { settings: {}, policy: {}, release: {}, template },
        replace: true,
        dryRun: true,
      });
      next = changed.requested?.release;
    }
    if (images !== undefined) {
      // On top of the template's release when both are given: by its spec, read back.
      const requested = await deployImage(db, {
        actor: context.actor,
        name,
        ...requestedImages(images),
        message: null,
        replace: true,
        dryRun: true,
        ...(next !== undefined ? { base: next } : {}),
      });
      next = requested.release;
    }
    if (next === undefined) {
      // Nothing asked: the release under way (or the newest) against the live one.
      const history = await serviceHistory(db, service);
      const targetId = history.active?.to_release_id ?? history.releases[0]?.id;
      next = history.releases.find((release) => release.id === targetId);
    }
    return printDryRun(context, name, live, next, { exitCode: flags.exitCode === true });
  });
}

async function dryRunReport(
  context: CliContext,
  db: Db,
  requested: RequestedRelease,
): Promise<number> {
  const { service } = requested;
  const live =
    service.current_release_id !== null
      ? await findRelease(db, service.current_release_id)
      : undefined;
  return printDryRun(context, service.name, live, requested.release);
}

export async function configSet(
  context: CliContext,
  rawName: string,
  assignments: string[],
  flags: { secret?: string[]; replace?: boolean; container?: string } & WaitFlag & DryRunFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const container =
    flags.container === undefined ? undefined : parseContainerName('--container', flags.container);
  const set: Record<string, string> = {};
  for (const assignment of assignments) {
    const [key, value] = parseEnvAssignment('KEY=VALUE', assignment);
    if (key in set) {
      throw new InputError('KEY=VALUE', `${key} is given twice; give each key once`);
    }
    set[key] = value;
  }
  const secrets: Record<string, string> = {};
  for (const assignment of flags.secret ?? []) {
    const [key, arn] = parseSecretAssignment('--secret', assignment);
    if (key in secrets) {
      throw new InputError('--secret', `${key} is given twice; give each key once`);
    }
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
      container,
      dryRun: flags.dryRun === true,
    });
    if (flags.dryRun === true) return dryRunReport(context, db, requested);
    return reportRequested(context, db, requested, flags.wait === true);
  });
}

export async function configUnset(
  context: CliContext,
  rawName: string,
  keys: string[],
  flags: { replace?: boolean; container?: string } & WaitFlag & DryRunFlag,
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const container =
    flags.container === undefined ? undefined : parseContainerName('--container', flags.container);
  const unset = keys.map((key) => parseEnvKey('KEY', key));
  return context.withDatabase(async (db) => {
    const requested = await changeConfig(db, {
      actor: context.actor,
      name,
      change: { set: {}, secrets: {}, unset },
      replace: flags.replace === true,
      container,
      dryRun: flags.dryRun === true,
    });
    if (flags.dryRun === true) return dryRunReport(context, db, requested);
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
  const result = await context.withDatabase(async (db) => {
    if ((await appNamed(db, name)) === undefined) {
      return controlDeployment(db, { actor: context.actor, name, control: what });
    }
    const { controlAppCommand } = await import('./app.ts');
    return controlAppCommand(context, db, name, what);
  });
  if (typeof result === 'number') return result;
  const { deployment } = result;
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
  /** `--abort-on-interrupt`: Ctrl-C aborts the deployment and waits for its rollback. */
  abortOnCtrlC = false,
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
  if (!abortOnCtrlC) {
    const finished = await waitForDeployment(context, db, deployment.id, service);
    if (finished === undefined) return 130;
    return finished.outcome === 'succeeded' ? 0 : 1;
  }
  const waiting = abortOnInterrupt(context, async () => {
    await controlDeployment(db, { actor: context.actor, name: service.name, control: 'abort' });
  });
  const finished = await waitForDeployment(waiting.context, db, deployment.id, service);
  if (waiting.interrupted()) return 130;
  return finished?.outcome === 'succeeded' ? 0 : 1;
}

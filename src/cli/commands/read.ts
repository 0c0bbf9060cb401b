import { setTimeout as sleep } from 'node:timers/promises';
import { listEvents } from '../../store/events.ts';
import {
  failedWindows,
  serviceHistory,
  stepEvidence,
  type ServiceHistory,
  type StepEvidence,
} from '../../store/history.ts';
import { containerImages, type ContainerImageView } from '../../store/releases.ts';
import { failingNotificationTargets } from '../../store/notification-targets.ts';
import { policySnapshotOf } from '../../store/rollout.ts';
import type { AnalysisWindow, Service, VerificationTask } from '../../store/schema.ts';
import { verificationTasks } from '../../store/verification-tasks.ts';
import { verificationLine, verificationTaskJson } from '../verification-view.ts';
import type { Db } from '../../store/database.ts';
import { findService, findServiceOrDeleted, listServices } from '../../store/services.ts';
import { anyApp, appNamed } from '../../store/apps.ts';
import { parseCount, parseServiceName } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import { failingLine, failingJson } from './notify.ts';
import {
  deploymentJson,
  deploymentSummary,
  eventJson,
  evidenceLine,
  evidenceView,
  alignedRows,
  EVENT_COLUMNS,
  eventRow,
  iso,
  releaseJson,
  shortImage,
  stepsOf,
  table,
} from '../render.ts';
import { tasksLine, uptimeLine } from '../rollout-view.ts';

const FOLLOW_POLL_MS = 500;

/** What `berth status` reads of one service. */
interface StatusInputs {
  history: ServiceHistory;
  /** The analysis of the active deployment's current step so far, when it has judged windows. */
  evidence: StepEvidence | undefined;
  /** The active deployment's failed windows, read only when a person promoted it. */
  failed: AnalysisWindow[];
  /** The verification tasks of the active deployment, else of the newest one. */
  verification: VerificationTask[];
}

async function statusInputs(db: Db, service: Service): Promise<StatusInputs> {
  const history = await serviceHistory(db, service);
  const active = history.active;
  const newest = active ?? history.deployments[0];
  const verification = newest !== undefined ? await verificationTasks(db, newest.id) : [];
  if (active === undefined) return { history, evidence: undefined, failed: [], verification };
  const [evidence, failed] = await Promise.all([
    stepEvidence(db, active.id, active.step_index),
    active.promote_requested_at !== null ? failedWindows(db, active.id) : Promise.resolve([]),
  ]);
  return { history, evidence, failed, verification };
}

/** Desired against observed, per service: what `berth status` shows. */
function statusOf({ history, evidence, failed, verification }: StatusInputs) {
  const { service, versions, active } = history;
  const steps = active !== undefined ? stepsOf(active, service.steps) : service.steps;
  const percent = active !== undefined ? (steps[active.step_index] ?? null) : null;
  // Judged by the policy the deployment was claimed under; the service's own before that.
  const policy = active?.policy ?? policySnapshotOf(service, false);
  const overridden = failed.at(-1);
  const live =
    service.current_release_id === null ? null : (versions.get(service.current_release_id) ?? null);
  const liveRelease = history.releases.find((release) => release.id === service.current_release_id);
  return {
    name: service.name,
    desired: {
      count: service.desired_count,
      version:
        history.active !== undefined ? (versions.get(history.active.to_release_id) ?? null) : live,
    },
    observed:
      service.observed_at === null
        ? null
        : { runningCount: service.observed_running_count, at: iso(service.observed_at) },
    liveVersion: live,
    /** Each container of the live release and the image it runs. */
    containers: liveRelease === undefined ? [] : containerImages(liveRelease),
    // After a promotion the previous release's task set stays up, for a rollback that needs no
    // new tasks: ECS counts its tasks in the service's running count until it is retired.
    warm:
      service.warm_release_id !== null && service.warm_until !== null
        ? {
            version: versions.get(service.warm_release_id) ?? null,
            until: service.warm_until.toISOString(),
          }
        : null,
    activeDeployment:
      history.active !== undefined ? deploymentJson(history.active, versions) : null,
    currentStep:
      active !== undefined ? { index: active.step_index, percent, of: steps.length } : null,
    evidence: evidence !== undefined ? evidenceView(evidence, policy, percent) : null,
    kind: service.kind,
    // A worker's step is judged on its tasks staying up: no requests to pool.
    uptime: evidence !== undefined ? uptimeLine(evidence.newest) : null,
    // What the worker last saw of the task sets: counts, health, failed launches as they happen.
    tasks:
      active?.observed != null
        ? {
            ...active.observed,
            maxFailedLaunches: policy.maxFailedLaunches,
            line: tasksLine(
              active.observed,
              {
                from:
                  active.from_release_id === null
                    ? null
                    : (versions.get(active.from_release_id) ?? null),
                to: versions.get(active.to_release_id) ?? 0,
              },
              policy.maxFailedLaunches,
            ),
          }
        : null,
    overriddenFailure:
      active !== undefined && active.promote_requested_at !== null && overridden !== undefined
        ? {
            promotedBy: active.promote_requested_by,
            promotedAt: iso(active.promote_requested_at),
            stepIndex: overridden.step_index,
            windowIndex: overridden.window_index,
            reason: overridden.reason,
          }
        : null,
    verification: {
      deploymentId: verification[0]?.deployment_id ?? null,
      tasks: verification.map(verificationTaskJson),
      lines: verification.map((task) =>
        verificationLine(task, new Date(), history.active === undefined ? endedAt(history) : null),
      ),
    },
  };
}

type Status = ReturnType<typeof statusOf>;

/** When the newest deployment ended (the one whose verification `status` shows when none runs). */
function endedAt(history: ServiceHistory): Date | null {
  return history.deployments[0]?.finished_at ?? null;
}

/** The lines below the table: evidence so far, and a promotion that overrode a failure. */
function statusNotes(s: Status, prefix: string): string[] {
  const lines: string[] = s.verification.lines.map(
    (line) => `${prefix}#${s.verification.deploymentId ?? '?'} ${line}`,
  );
  if (s.warm !== null) {
    const warm = s.warm.version === null ? 'the previous release' : `v${s.warm.version}`;
    lines.push(
      `${prefix}${warm}'s task set is kept warm until ${s.warm.until.slice(0, 19).replace('T', ' ')}Z for an instant rollback (berth rollback ${s.name}); OBSERVED counts its tasks too`,
    );
  }
  if (s.tasks !== null && s.tasks.line !== '') lines.push(`${prefix}tasks: ${s.tasks.line}`);
  if (s.evidence !== null) lines.push(`${prefix}evidence: ${evidenceLine(s.evidence)}`);
  if (s.uptime !== null) lines.push(`${prefix}uptime: ${s.uptime}`);
  if (s.overriddenFailure !== null) {
    lines.push(
      `${prefix}promoted by ${s.overriddenFailure.promotedBy ?? 'someone'}, overriding a failing window: ${s.overriddenFailure.reason}`,
    );
  }
  return lines;
}

/** `berth status [NAME]`: desired against observed, the deployment under way and its evidence. */
export async function status(context: CliContext, rawName: string | undefined): Promise<number> {
  const name = rawName === undefined ? undefined : parseServiceName('NAME', rawName);
  if (name !== undefined) {
    const app = await context.withDatabase(async (db) => appNamed(db, name));
    if (app !== undefined) return (await import('./app.ts')).appShow(context, name);
  }
  const [inputs, failing, apps] = await context.withDatabase(async (db) => {
    const services = name === undefined ? await listServices(db) : [await findService(db, name)];
    return Promise.all([
      Promise.all(services.map((service) => statusInputs(db, service))),
      failingNotificationTargets(db),
      // Apps only in the whole view, and only where there are any: a fleet without apps reads as before.
      name === undefined && (await anyApp(db))
        ? (await import('./app.ts')).appStatusLines(db)
        : undefined,
    ]);
  });
  const rows = inputs.map((input) => ({
    history: input.history,
    s: { ...statusOf(input), failingNotifications: failingJson(failing, input.history.service) },
  }));
  const statuses = rows.map((row) => row.s);
  // Below the table: alone, a service's lines need no name; in the list of all, they do.
  const notes = statuses.flatMap((s) => statusNotes(s, name === undefined ? `${s.name} ` : ''));
  const failingNotes = failingLine(
    failing,
    name === undefined ? undefined : rows[0]?.history.service,
  );
  if (failingNotes !== undefined) notes.push(failingNotes);
  if (apps !== undefined) notes.push(...apps.text);
  const observed = (s: Status) =>
    s.observed === null
      ? 'not yet observed'
      : `${s.observed.runningCount ?? '?'} running${s.warm === null ? '' : ` (incl. warm v${s.warm.version ?? '?'})`}`;
  context.print({
    json: name === undefined ? statuses : statuses[0],
    text:
      rows.length === 0
        ? 'no services yet'
        : [
            table([
              ['SERVICE', 'DESIRED', 'OBSERVED', 'LIVE', 'DEPLOYMENT'],
              ...rows.map(({ history, s }) => [
                history.service.name,
                `${s.desired.count} × ${s.desired.version !== null ? `v${s.desired.version}` : '-'}`,
                observed(s),
                s.liveVersion !== null ? `v${s.liveVersion} ${liveImages(s.containers)}` : '-',
                history.active !== undefined
                  ? deploymentSummary(history.active, history.versions, history.service.steps)
                  : 'none in progress',
              ]),
            ]),
            ...notes,
          ].join('\n'),
  });
  return 0;
}

/**
 * What became of a release, as `history` marks it: `live`; `was live`; `rolled back` when its
 * canary was rolled back or a person rolled back from it; `failed`; `replaced`; `deploying`;
 * null when no deployment has gone to it.
 */
export type ReleaseMark =
  'live' | 'was live' | 'rolled back' | 'failed' | 'replaced' | 'deploying' | null;

/** Each release's mark, from the deployments (newest first) of its service. */
export function releaseMarks(result: ServiceHistory): Map<number, ReleaseMark> {
  const marks = new Map<number, ReleaseMark>();
  for (const release of result.releases) {
    if (release.id === result.service.current_release_id) {
      // A deleted service runs nothing: its last live release is live no more.
      marks.set(release.id, result.service.deleted_at === null ? 'live' : 'was live');
      continue;
    }
    // Deployments are newest first: the newest one to this release says what became of it.
    const to = result.deployments.find((d) => d.to_release_id === release.id);
    let mark: ReleaseMark = null;
    if (to !== undefined && to.outcome === null) mark = 'deploying';
    else if (to?.outcome === 'rolled_back') mark = 'rolled back';
    else if (to?.outcome === 'failed' || to?.outcome === 'replaced') mark = to.outcome;
    else if (to?.outcome === 'succeeded') {
      // It went live; the next release to go live after it ended that, by a rollback or not.
      const successor = result.deployments.findLast(
        (d) => d.outcome === 'succeeded' && d.id > to.id,
      );
      mark = successor?.kind === 'rollback' ? 'rolled back' : 'was live';
    }
    marks.set(release.id, mark);
  }
  return marks;
}

/** `berth history NAME`: releases and deployments, newest first. */
export async function history(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const result = await context.withDatabase(async (db) => {
    if ((await appNamed(db, name)) !== undefined) {
      const { appHistory } = await import('./app.ts');
      return appHistory(context, db, name);
    }
    return serviceHistory(db, await findServiceOrDeleted(db, name));
  });
  if (typeof result === 'number') return result;
  const { service, releases, deployments, versions } = result;
  const marks = releaseMarks(result);
  const deleted = service.deleted_at;
  context.print({
    json: {
      service: service.name,
      deletedAt: deleted?.toISOString() ?? null,
      liveVersion:
        service.current_release_id === null || deleted !== null
          ? null
          : (versions.get(service.current_release_id) ?? null),
      releases: releases.map((release) => ({
        ...releaseJson(release),
        status: marks.get(release.id) ?? null,
      })),
      deployments: deployments.map((deployment) => deploymentJson(deployment, versions)),
    },
    text: [
      ...(deleted !== null
        ? [
            `${service.name} was deleted at ${deleted.toISOString()} (asked by ${service.delete_requested_by ?? 'someone'})`,
          ]
        : []),
      `releases of ${service.name}, newest first:`,
      table([
        ['VERSION', 'STATUS', 'IMAGE', 'CREATED', 'BY'],
        ...releases.map((release) => [
          `v${release.version}`,
          marks.get(release.id) ?? '-',
          shortImage(release.image),
          release.created_at.toISOString(),
          release.created_by,
        ]),
      ]),
      '',
      'deployments, newest first:',
      deployments.length === 0
        ? '(none)'
        : deployments
            .map((deployment) => `  ${deploymentSummary(deployment, versions, service.steps)}`)
            .join('\n'),
    ].join('\n'),
  });
  return 0;
}

/** `berth events NAME [--follow]`: the audit log, and what is appended to it while following. */
export async function events(
  context: CliContext,
  rawName: string,
  flags: { follow?: boolean; limit?: string },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const limit =
    flags.limit === undefined ? 1000 : parseCount('--limit', flags.limit, { min: 1, max: 100000 });
  return context.withDatabase(async (db) => {
    // An app's own entries (created, updated, its deployments asked for and settled), or a
    // service's; a deleted service's audit log stays readable under its name.
    const of =
      (await appNamed(db, name)) !== undefined
        ? { app: name }
        : (await findServiceOrDeleted(db, name)).id;
    let lastId = 0;
    // The widths of the columns so far: what follows lines up with what came before.
    const widths: number[] = [];
    let header = true;
    const emit = (batch: Awaited<ReturnType<typeof listEvents>>, asDocument: boolean) => {
      for (const event of batch) lastId = Math.max(lastId, event.id);
      if (context.json) {
        if (asDocument) context.io.stdout(`${JSON.stringify(batch.map(eventJson), null, 2)}\n`);
        // Following: one JSON object a line, so that a reader can act on each as it comes.
        else for (const event of batch) context.io.stdout(`${JSON.stringify(eventJson(event))}\n`);
      } else if (batch.length > 0) {
        const rows = batch.map(eventRow);
        const lines = alignedRows(header ? [EVENT_COLUMNS, ...rows] : rows, widths);
        header = false;
        context.io.stdout(`${lines.join('\n')}\n`);
      }
    };
    const first = await listEvents(db, of, { limit });
    emit(first, flags.follow !== true);
    if (flags.follow !== true) return 0;
    context.note(`following the audit log of ${name}; Ctrl-C to stop`);
    for (;;) {
      try {
        await sleep(FOLLOW_POLL_MS, undefined, { signal: context.io.signal });
      } catch {
        return 0;
      }
      emit(await listEvents(db, of, { afterId: lastId }), false);
    }
  });
}

/** The live image of each container: `nginx:1.28`, or `app=… nginx=…` with several. */
function liveImages(containers: readonly ContainerImageView[]): string {
  const shown = (container: ContainerImageView) =>
    container.imageDigest !== null && !container.image.includes('@')
      ? `${container.image}@${container.imageDigest.slice(0, 19)}`
      : container.image;
  if (containers.length === 1 && containers[0] !== undefined) return shown(containers[0]);
  return containers.map((container) => `${container.name}=${shown(container)}`).join(' ');
}

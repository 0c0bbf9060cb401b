import { setTimeout as sleep } from 'node:timers/promises';
import { listEvents } from '../../store/events.ts';
import { serviceHistory, type ServiceHistory } from '../../store/history.ts';
import { findService, listServices } from '../../store/services.ts';
import { parseCount, parseServiceName } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import {
  deploymentJson,
  deploymentSummary,
  eventJson,
  eventLine,
  iso,
  releaseJson,
  table,
} from '../render.ts';

const FOLLOW_POLL_MS = 500;

/** Desired against observed, per service: what `berth status` shows. */
function statusOf(history: ServiceHistory) {
  const { service, versions } = history;
  const live =
    service.current_release_id === null ? null : (versions.get(service.current_release_id) ?? null);
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
    activeDeployment:
      history.active !== undefined ? deploymentJson(history.active, versions) : null,
    currentStep:
      history.active !== undefined
        ? {
            index: history.active.step_index,
            percent: service.steps[history.active.step_index] ?? null,
            of: service.steps.length,
          }
        : null,
  };
}

export async function status(context: CliContext, rawName: string | undefined): Promise<number> {
  const name = rawName === undefined ? undefined : parseServiceName('NAME', rawName);
  const histories = await context.withDatabase(async (db) => {
    const services = name === undefined ? await listServices(db) : [await findService(db, name)];
    return Promise.all(services.map((service) => serviceHistory(db, service)));
  });
  const statuses = histories.map(statusOf);
  const observed = (s: ReturnType<typeof statusOf>) =>
    s.observed === null ? 'not yet observed' : `${s.observed.runningCount ?? '?'} running`;
  context.print({
    json: name === undefined ? statuses : statuses[0],
    text:
      histories.length === 0
        ? 'no services yet'
        : table([
            ['SERVICE', 'DESIRED', 'OBSERVED', 'LIVE', 'DEPLOYMENT'],
            ...histories.map((history, i) => {
              const s = statuses[i] ?? statusOf(history);
              return [
                history.service.name,
                `${s.desired.count} × ${s.desired.version !== null ? `v${s.desired.version}` : '-'}`,
                observed(s),
                s.liveVersion !== null ? `v${s.liveVersion}` : '-',
                history.active !== undefined
                  ? deploymentSummary(history.active, history.versions, history.service.steps)
                  : 'none in progress',
              ];
            }),
          ]),
  });
  return 0;
}

export async function history(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const result = await context.withDatabase(async (db) =>
    serviceHistory(db, await findService(db, name)),
  );
  const { service, releases, deployments, versions } = result;
  context.print({
    json: {
      service: service.name,
      liveVersion:
        service.current_release_id === null
          ? null
          : (versions.get(service.current_release_id) ?? null),
      releases: releases.map(releaseJson),
      deployments: deployments.map((deployment) => deploymentJson(deployment, versions)),
    },
    text: [
      `releases of ${service.name}, newest first:`,
      table([
        ['VERSION', 'IMAGE', 'CREATED', 'BY'],
        ...releases.map((release) => [
          `v${release.version}${release.id === service.current_release_id ? ' (live)' : ''}`,
          release.image,
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

export async function events(
  context: CliContext,
  rawName: string,
  flags: { follow?: boolean; limit?: string },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const limit =
    flags.limit === undefined ? 1000 : parseCount('--limit', flags.limit, { min: 1, max: 100000 });
  return context.withDatabase(async (db) => {
    const service = await findService(db, name);
    let lastId = 0;
    const emit = (batch: Awaited<ReturnType<typeof listEvents>>, asDocument: boolean) => {
      for (const event of batch) lastId = Math.max(lastId, event.id);
      if (context.json) {
        if (asDocument) context.io.stdout(`${JSON.stringify(batch.map(eventJson), null, 2)}\n`);
        // Following: one JSON object a line, so that a reader can act on each as it comes.
        else for (const event of batch) context.io.stdout(`${JSON.stringify(eventJson(event))}\n`);
      } else {
        for (const event of batch) context.io.stdout(`${eventLine(event)}\n`);
      }
    };
    const first = await listEvents(db, service.id, { limit });
    emit(first, flags.follow !== true);
    if (flags.follow !== true) return 0;
    context.note(`following the audit log of ${name}; Ctrl-C to stop`);
    for (;;) {
      try {
        await sleep(FOLLOW_POLL_MS, undefined, { signal: context.io.signal });
      } catch {
        return 0;
      }
      emit(await listEvents(db, service.id, { afterId: lastId }), false);
    }
  });
}

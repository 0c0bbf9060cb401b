import type { Release } from '../store/schema.ts';
import type { ContainerTemplate } from '../validation/task-definition.ts';
import type { CliContext } from './context.ts';
import { releasePreviewJson } from './render.ts';

/** One container as a release runs it, for comparing. */
interface ContainerView {
  image: string;
  digest: string | null;
  environment: Record<string, string>;
  secrets: Record<string, string>;
  definition: ContainerTemplate | undefined;
}

/** What changes between the live release and another, per container and for the task. */
export interface ReleaseDiff {
  changed: boolean;
  containers: {
    name: string;
    change: 'added' | 'removed' | 'changed';
    image?: { from: string | null; to: string | null };
    environment?: { added: string[]; changed: string[]; removed: string[] };
    /** Secret references (ARNs) by name: never values, which Berth never holds. */
    secrets?: { added: string[]; changed: string[]; removed: string[] };
    /** Other container fields that differ: command, healthCheck, cpu, memory, … */
    fields: string[];
  }[];
  /** Task-level fields that differ: cpu, memory, taskRoleArn, executionRoleArn, … */
  task: { field: string; from: unknown; to: unknown }[];
}

function containersOf(release: Release): Map<string, ContainerView> {
  const views = new Map<string, ContainerView>();
  for (const definition of release.template.containerDefinitions) {
    const managed =
      definition.name === release.main_container
        ? {
            image: release.image,
            imageDigest: release.image_digest,
            environment: release.environment,
            secrets: release.secrets,
          }
        : release.sidecars[definition.name];
    views.set(definition.name, {
      image: managed?.image ?? '',
      digest: managed?.imageDigest ?? null,
      environment: managed?.environment ?? {},
      secrets: managed?.secrets ?? {},
      definition,
    });
  }
  return views;
}

function keyChanges(from: Record<string, string>, to: Record<string, string>) {
  const added = Object.keys(to).filter((key) => !(key in from));
  const removed = Object.keys(from).filter((key) => !(key in to));
  const changed = Object.keys(to).filter((key) => key in from && from[key] !== to[key]);
  return added.length + removed.length + changed.length === 0
    ? undefined
    : { added: added.sort(), changed: changed.sort(), removed: removed.sort() };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The difference a release makes against the live one (none live: everything is added). */
export function releaseDiff(live: Release | undefined, next: Release): ReleaseDiff {
  const before = live === undefined ? new Map<string, ContainerView>() : containersOf(live);
  const after = containersOf(next);
  const containers: ReleaseDiff['containers'] = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const from = before.get(name);
    const to = after.get(name);
    if (from === undefined || to === undefined) {
      containers.push({
        name,
        change: from === undefined ? 'added' : 'removed',
        image: { from: from?.image ?? null, to: to?.image ?? null },
        fields: [],
      });
      continue;
    }
    const entry: ReleaseDiff['containers'][number] = { name, change: 'changed', fields: [] };
    // A digest resolved since is not a change of what was asked for; a different one pinned is.
    const digestChanged = from.digest !== null && to.digest !== null && from.digest !== to.digest;
    if (from.image !== to.image || digestChanged) {
      entry.image = {
        from: from.image + (from.digest !== null ? `@${from.digest}` : ''),
        to: to.image + (to.digest !== null ? `@${to.digest}` : ''),
      };
    }
    const environment = keyChanges(from.environment, to.environment);
    if (environment !== undefined) entry.environment = environment;
    const secrets = keyChanges(from.secrets, to.secrets);
    if (secrets !== undefined) entry.secrets = secrets;
    const fieldNames = new Set([
      ...Object.keys(from.definition ?? {}),
      ...Object.keys(to.definition ?? {}),
    ]);
    for (const field of fieldNames) {
      if (!same(from.definition?.[field], to.definition?.[field])) entry.fields.push(field);
    }
    entry.fields.sort();
    if (
      entry.image !== undefined ||
      entry.environment !== undefined ||
      entry.secrets !== undefined ||
      entry.fields.length > 0
    ) {
      containers.push(entry);
    }
  }
  const task: ReleaseDiff['task'] = [];
  const fromTask: Record<string, unknown> = { ...(live?.template ?? {}) };
  const toTask: Record<string, unknown> = { ...next.template };
  delete fromTask.containerDefinitions;
  delete toTask.containerDefinitions;
  for (const field of new Set([...Object.keys(fromTask), ...Object.keys(toTask)])) {
    if (!same(fromTask[field], toTask[field])) {
      task.push({ field, from: fromTask[field] ?? null, to: toTask[field] ?? null });
    }
  }
  if (live !== undefined && live.main_container !== next.main_container) {
    task.push({ field: 'mainContainer', from: live.main_container, to: next.main_container });
  }
  task.sort((a, b) => (a.field < b.field ? -1 : 1));
  return { changed: containers.length > 0 || task.length > 0, containers, task };
}

/** The diff as a person reads it, one line a change. */
export function diffLines(diff: ReleaseDiff): string[] {
  const lines: string[] = [];
  for (const container of diff.containers) {
    if (container.change !== 'changed') {
      lines.push(
        `  container ${container.name}: ${container.change} (${container.image?.to ?? container.image?.from ?? ''})`,
      );
      continue;
    }
    if (container.image !== undefined) {
      lines.push(
        `  container ${container.name}: image ${container.image.from ?? '-'} -> ${container.image.to ?? '-'}`,
      );
    }
    for (const [label, keys] of [
      ['env', container.environment],
      ['secret', container.secrets],
    ] as const) {
      if (keys === undefined) continue;
      for (const key of keys.added) lines.push(`  container ${container.name}: ${label} + ${key}`);
      for (const key of keys.changed)
        lines.push(`  container ${container.name}: ${label} ~ ${key}`);
      for (const key of keys.removed)
        lines.push(`  container ${container.name}: ${label} - ${key}`);
    }
    for (const field of container.fields)
      lines.push(`  container ${container.name}: ${field} changed`);
  }
  for (const change of diff.task) {
    lines.push(
      `  task ${change.field}: ${JSON.stringify(change.from)} -> ${JSON.stringify(change.to)}`,
    );
  }
  return lines;
}

/**
 * `--dry-run` and `berth diff`: the release that would be made and what it changes against the
 * live one. Nothing was written. Returns the exit code (1 with `exitCode` when something changes).
 */
export function printDryRun(
  context: CliContext,
  name: string,
  live: Release | undefined,
  next: Release | undefined,
  options: { exitCode?: boolean; policy?: string[] } = {},
): number {
  const diff =
    next === undefined ? { changed: false, containers: [], task: [] } : releaseDiff(live, next);
  const policy = options.policy ?? [];
  const changed = diff.changed || policy.length > 0;
  const lines = [
    next === undefined
      ? `${name}: no new release would be made`
      : `${name}: v${next.version} would be made (${next.image}) against ${live !== undefined ? `live v${live.version}` : 'no live release'}; nothing written`,
    ...diffLines(diff),
    ...policy.map((line) => `  policy ${line}`),
  ];
  if (!changed) lines.push('  no change');
  context.print({
    json: {
      dryRun: true,
      changed,
      liveVersion: live?.version ?? null,
      release: next !== undefined ? releasePreviewJson(next) : null,
      diff,
      policy,
    },
    text: lines.join('\n'),
  });
  return options.exitCode === true && changed ? 1 : 0;
}

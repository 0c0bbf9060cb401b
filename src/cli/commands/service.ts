import { readFile } from 'node:fs/promises';
import type { Db } from '../../store/database.ts';
import { changeService, createService } from '../../store/services-write.ts';
import { InputError } from '../../validation/input-error.ts';
import { quote } from '../../validation/quote.ts';
import {
  parseTaskDefinitionReference,
  parseTemplate,
  parseTemplateText,
  type ParsedTemplate,
  type TemplateChoices,
} from '../../validation/task-definition.ts';
import { printDryRun } from '../release-diff.ts';
import { serviceHistory } from '../../store/history.ts';
import { containerImages, findRelease, latestRelease } from '../../store/releases.ts';
import { defaultLogGroup } from '../../validation/names.ts';
import { policyOf } from '../../store/rollout.ts';
import { findService, listServices } from '../../store/services.ts';
import { parseMessage, parseNewServiceName, parseServiceName } from '../../validation/fields.ts';
import type { CliContext } from '../context.ts';
import {
  deploymentJson,
  deploymentSummary,
  policyDifference,
  policyLine,
  releaseJson,
  serviceJson,
  table,
  words,
} from '../render.ts';
import {
  newServiceFrom,
  parseServiceFlags,
  serviceUpdateFrom,
  type ServiceFlags,
} from '../service-flags.ts';
import { checkListenerRule } from './listener-rule-check.ts';
import { onSimulatedAws, warnMutableTag, warnShortInterval } from './warnings.ts';

/**
 * The template a command names: `--task-definition FILE` read and checked, or
 * `--from-task-definition REF` described by the cloud the service would run on.
 */
export async function templateOf(
  context: CliContext,
  db: Db,
  flags: ServiceFlags,
  choices: TemplateChoices,
): Promise<ParsedTemplate | undefined> {
  if (flags.taskDefinition !== undefined) {
    const path = flags.taskDefinition;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'unreadable';
      throw new InputError(
        '--task-definition',
        `cannot read ${quote(path)} (${code}); give the path of a JSON file`,
        { cause: error },
      );
    }
    return parseTemplateText('--task-definition', text, choices);
  }
  if (flags.fromTaskDefinition !== undefined) {
    const reference = parseTaskDefinitionReference(
      '--from-task-definition',
      flags.fromTaskDefinition,
    );
    const simulated = await onSimulatedAws(context, db);
    // Loaded only here: the simulated AWS and the SDK clients are heavy for every other command.
    const { cloudFor } = await import('../../../workers/workers.ts');
    const { clients } = cloudFor(
      simulated ? 'sim' : 'aws',
      db,
      context.environment,
      context.logger,
    );
    const { AwsCloud } = await import('../../cloud/aws-cloud.ts');
    const found = await new AwsCloud(clients, context.logger).describeTaskDefinition(reference);
    if (found === undefined) {
      throw new InputError(
        '--from-task-definition',
        `ECS knows no task definition ${quote(reference)}; give the ARN, family or family:revision of one registered in the account`,
      );
    }
    return parseTemplate('--from-task-definition', found, choices);
  }
  return undefined;
}

/** `berth service create`: the service, release v1 and its first deployment. */
export async function serviceCreate(
  context: CliContext,
  rawName: string,
  flags: ServiceFlags & { message?: string },
): Promise<number> {
  const name = parseNewServiceName('NAME', rawName);
  const parsed = parseServiceFlags(flags, 'create');
  const message = flags.message === undefined ? null : parseMessage('--message', flags.message);
  const { created, simulated, spec } = await context.withDatabase(async (db) => {
    if (parsed.listenerRule !== undefined && parsed.targetGroups !== undefined) {
      await checkListenerRule(context, db, {
        listenerRule: parsed.listenerRule,
        targetGroups: parsed.targetGroups,
      });
    }
    const template = await templateOf(context, db, flags, {
      container: parsed.container,
      port: parsed.port,
      launchType: parsed.launchType,
      noLoadBalancer: parsed.worker,
    });
    const spec = newServiceFrom(parsed, name, template);
    return {
      spec,
      created: await createService(db, { actor: context.actor, name, ...spec, message }),
      simulated: await onSimulatedAws(context, db),
    };
  });
  warnShortInterval(context, spec.policy.analysisIntervalSeconds, simulated);
  warnMutableTag(context, '--image', flags.image);
  context.print({
    json: {
      service: serviceJson(created.service),
      release: releaseJson(created.release),
      deployment: deploymentJson(
        created.deployment,
        new Map([[created.release.id, created.release.version]]),
      ),
    },
    text:
      `created service ${name} with release v${created.release.version} (${created.release.image}); ` +
      `deployment #${created.deployment.id} is pending for the workers`,
  });
  return 0;
}

/** `berth service update`: policy and settings at once; task changes make a release. */
export async function serviceUpdate(
  context: CliContext,
  rawName: string,
  flags: ServiceFlags & { replace?: boolean },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const parsed = parseServiceFlags(flags, 'update');
  const outcome = await context.withDatabase(async (db) => {
    const service = await findService(db, name);
    if (parsed.listenerRule !== undefined && parsed.targetGroups !== undefined) {
      await checkListenerRule(context, db, {
        listenerRule: parsed.listenerRule,
        targetGroups: parsed.targetGroups,
      });
    }
    const base =
      service.current_release_id !== null
        ? await findRelease(db, service.current_release_id)
        : await latestRelease(db, service.id);
    const template = await templateOf(context, db, flags, {
      container: parsed.container,
      port:
        parsed.port ??
        (parsed.container === undefined ? (base?.container_port ?? undefined) : undefined),
      launchType: service.launch_type,
      noLoadBalancer: service.kind === 'worker',
    });
    if (template === undefined && parsed.container !== undefined) {
      throw new InputError(
        '--container',
        'names the main container of a new template; give --task-definition with it',
      );
    }
    const update = serviceUpdateFrom(parsed, {
      launchType: service.launch_type,
      cpu: base?.cpu ?? 256,
      memory: base?.memory ?? 512,
      hasNetwork: service.subnets.length > 0,
      intervalSeconds: service.analysis_interval_seconds,
      maxAnalysisSeconds: service.max_analysis_seconds,
      kind: service.kind,
    });
    const changed = await changeService(db, {
      actor: context.actor,
      name,
      update: template !== undefined ? { ...update, template } : update,
      replace: flags.replace === true,
      dryRun: flags.dryRun === true,
    });
    const live = service.current_release_id !== null ? base : undefined;
    const policy = policyDifference(
      { ...policyOf(service), first: false },
      policyOf(changed.service),
    );
    return { ...changed, live, policy, simulated: await onSimulatedAws(context, db) };
  });
  if (flags.dryRun === true) {
    return printDryRun(context, name, outcome.live, outcome.requested?.release, {
      policy: outcome.policy,
    });
  }
  const requested = outcome.requested;
  if (parsed.interval !== undefined) warnShortInterval(context, parsed.interval, outcome.simulated);
  warnMutableTag(context, '--image', flags.image);
  context.print({
    json: {
      service: serviceJson(outcome.service),
      release: requested !== undefined ? releaseJson(requested.release) : null,
      deployment:
        requested !== undefined
          ? deploymentJson(
              requested.deployment,
              new Map([[requested.release.id, requested.release.version]]),
            )
          : null,
      replacedDeploymentId: requested?.replaced?.id ?? null,
    },
    text:
      `updated service ${name}` +
      (requested !== undefined
        ? `; release v${requested.release.version} requested as deployment #${requested.deployment.id}` +
          (requested.replaced !== undefined ? ` (replacing #${requested.replaced.id})` : '')
        : ''),
  });
  return 0;
}

/** `berth service list`. */
export async function serviceList(context: CliContext): Promise<number> {
  const rows = await context.withDatabase(async (db) => {
    const services = await listServices(db);
    return Promise.all(services.map((service) => serviceHistory(db, service)));
  });
  context.print({
    json: rows.map((history) => ({
      ...serviceJson(history.service),
      currentVersion:
        history.service.current_release_id === null
          ? null
          : (history.versions.get(history.service.current_release_id) ?? null),
      latestVersion: history.releases[0]?.version ?? null,
      activeDeploymentId: history.active?.id ?? null,
    })),
    text:
      rows.length === 0
        ? 'no services yet (berth service create NAME --cluster C --image IMG --port P)'
        : table([
            ['NAME', 'CLUSTER', 'DESIRED', 'LIVE', 'LATEST', 'DEPLOYMENT'],
            ...rows.map((history) => [
              history.service.name,
              history.service.cluster,
              String(history.service.desired_count),
              history.service.current_release_id === null
                ? '-'
                : `v${history.versions.get(history.service.current_release_id) ?? '?'}`,
              history.releases[0] !== undefined ? `v${history.releases[0].version}` : '-',
              history.active !== undefined
                ? `#${history.active.id} ${words(history.active.phase)}`
                : '-',
            ]),
          ]),
  });
  return 0;
}

/** `berth service show`: settings, policy, releases and the deployment under way. */
export async function serviceShow(context: CliContext, rawName: string): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  const history = await context.withDatabase(async (db) =>
    serviceHistory(db, await findService(db, name)),
  );
  const { service } = history;
  const live =
    service.current_release_id === null
      ? undefined
      : history.releases.find((release) => release.id === service.current_release_id);
  const latest = history.releases[0];
  const current = policyOf(service);
  // A deployment keeps the policy it was claimed under; a change since applies to the next one.
  const snapshot = history.active?.policy ?? null;
  const differences = snapshot === null ? [] : policyDifference(snapshot, current);
  const note =
    history.active !== undefined && differences.length > 0
      ? [
          `  note:         deployment #${history.active.id} runs under the policy it started with ` +
            `(${differences.join(', ')}); the current policy applies to the next deployment`,
        ]
      : [];
  context.print({
    json: {
      ...serviceJson(service),
      liveRelease: live !== undefined ? releaseJson(live) : null,
      latestRelease: latest !== undefined ? releaseJson(latest) : null,
      activeDeployment:
        history.active !== undefined ? deploymentJson(history.active, history.versions) : null,
      activeDeploymentPolicy: snapshot,
      policyDiffers: differences.length > 0,
    },
    text: [
      `service ${service.name}`,
      `  cluster:      ${service.cluster} (ECS service ${service.ecs_service_name}, ${service.launch_type})`,
      `  desired:      ${service.desired_count} task(s)`,
      `  traffic:      ${
        service.kind === 'worker'
          ? 'worker service (no load balancer): a canary is a share of the tasks'
          : service.listener_rule_arn === null
            ? 'no listener rule or target groups recorded'
            : `rule ${service.listener_rule_arn}\n                target groups ${service.target_group_a_arn ?? ''}, ${service.target_group_b_arn ?? ''} (live: ${service.live_target_group})`
      }`,
      `  network:      ${service.subnets.length > 0 ? `subnets ${service.subnets.join(',')}, security groups ${service.security_groups.join(',')}${service.assign_public_ip ? ', public IP' : ''}${service.network_source === 'load-balancer' ? " (the load balancer's)" : ''}` : "none given: the load balancer's, read at the first deploy"}`,
      `  execution role: ${executionRoleLine(service, latest)}`,
      ...(service.kind === 'worker' ? [] : [`  health path:  ${service.health_check_path}`]),
      `  follows:      ${
        service.follow_repository === null
          ? 'no ECR repository (deploys what is asked for)'
          : `ECR ${service.follow_repository}:${service.follow_tag_pattern ?? ''}, pushes deploy as ecr` +
            (service.follow_problem !== null ? ` — failing: ${service.follow_problem}` : '')
      }`,
      `  policy:       ${policyLine(current)}`,
      `  live:         ${live !== undefined ? `v${live.version} ${live.image}` : 'none yet'}`,
      `  containers:   ${containerImages(
        live ?? latest ?? { main_container: '-', image: '-', image_digest: null, sidecars: {} },
      )
        .map(
          (container) => `${container.name}${container.main ? ' (main)' : ''} ${container.image}`,
        )
        .join(', ')}`,
      `  logs:         containers without their own logging send to ${service.log_group ?? defaultLogGroup(service.name)}`,
      `  latest:       ${latest !== undefined ? `v${latest.version} ${latest.image} (cpu ${latest.cpu}, memory ${latest.memory} MiB${latest.container_port !== null ? `, port ${latest.container_port}` : ''})` : 'none'}`,
      `  deployment:   ${history.active !== undefined ? deploymentSummary(history.active, history.versions, service.steps) : 'none in progress'}`,
      ...note,
    ].join('\n'),
  });
  return 0;
}

/** The execution role the service's task definitions get, and where it comes from. */
function executionRoleLine(
  service: { conventional_execution_role_arn: string | null },
  latest: { execution_role_arn: string | null } | undefined,
): string {
  if (latest?.execution_role_arn != null) return `${latest.execution_role_arn} (--execution-role)`;
  if (service.conventional_execution_role_arn !== null) {
    return `${service.conventional_execution_role_arn} (the account's, found with iam:GetRole)`;
  }
  return "none given (the account's ecsTaskExecutionRole where AWS requires one)";
}

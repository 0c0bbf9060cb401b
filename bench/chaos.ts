/**
 * `npm run chaos [-- --rollouts 200 --services 40 --apps 4 --workers 3 --kill-every 4 --faults …]`:
 * rollouts on the simulated AWS with worker processes SIGKILLed at random (and started again, as
 * a supervisor would), AWS calls failing at the rates of `--faults` (BERTH_SIM_FAULTS syntax),
 * and the Postgres server restarted once mid-run with nobody restarting the workers. Then it
 * checks what a platform team would ask (see chaos-checks.ts), prints the figures and exits 1
 * when any check broke. A fifth of the deployments are a 5xx image, which must never go live;
 * every other service runs a verification task (RunTask) before each canary. A tenth of the
 * services are paired into apps, deployed together (`berth deploy APP`), a fifth of them with
 * one member's image failing: every app deployment must end all live or all rolled back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCli } from '../src/cli/program.ts';
import {
  ACCELERATED_METRIC_RESOLUTION_SECONDS,
  bootstrapSimulatedService,
  createSimulatedAws,
  METRIC_RESOLUTION_SETTING,
  parseFaultRates,
  simulatedClients,
  type JournalEntry,
} from '../src/cloud/sim/index.ts';
import { KIND, type RuleDoc } from '../src/cloud/sim/model.ts';
import type { SimulatedAws } from '../src/cloud/sim/simulated-aws.ts';
import { createLogger } from '../src/logging.ts';
import { connect, type Db } from '../src/store/database.ts';
import { openEmbeddedPostgres } from '../src/store/embedded-postgres.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { RateLimiter } from '../src/cloud/rate-limit.ts';
import { writeRunResults } from './support/report.ts';
import {
  endStateBreaches,
  healthyNotLive,
  isFailingImage,
  promotedFailures,
  repeatedCreates,
  splitApps,
  strandedSplits,
  unannouncedWrites,
  unfinishedDeployments,
  type AppDeploymentRecord,
  type Breach,
  type DeploymentRecord,
  type EndState,
  type IntentRecord,
  type RuleRecord,
} from './chaos-checks.ts';

const BIN = fileURLToPath(new URL('../bin/berth.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** How hard to shake, and for how long at most. */
export interface ChaosOptions {
  rollouts: number;
  services: number;
  /** Apps of two services each, made of the last services; undefined: one per ten services. */
  apps?: number;
  workers: number;
  /** Seconds between SIGKILLs of a random worker. */
  killEverySeconds: number;
  /** At most this many kills (the short version in `npm test` takes one). */
  maxKills: number;
  /** BERTH_SIM_FAULTS: chances per AWS call of throttling, a 500, a timeout, a lost answer. */
  faults: string;
  /** Postgres restarted cleanly once, and crashed (`-m immediate`) once. */
  restartPostgres: boolean;
  /** Times a worker is SIGSTOPped past its lease mid-pass, then resumed: a stale writer. */
  stalls: number;
  leaseSeconds: number;
  /** The run fails when the rollouts have not all finished by then. */
  timeoutSeconds: number;
  seed: number;
}

export const FULL_RUN: ChaosOptions = {
  rollouts: 200,
  services: 40,
  workers: 3,
  killEverySeconds: 4,
  maxKills: Number.POSITIVE_INFINITY,
  faults: 'throttle=0.05,error=0.05,timeout=0.03,lost=0.02',
  restartPostgres: true,
  stalls: 2,
  leaseSeconds: 5,
  timeoutSeconds: 540,
  seed: 20261202,
};

/** The figures of a run and the checks it broke. */
export interface ChaosReport {
  seconds: number;
  rollouts: number;
  outcomes: Record<string, number>;
  kills: number;
  postgresRestarts: number;
  postgresCrashes: number;
  stalls: number;
  awsCalls: number;
  awsWrites: number;
  auditedWritesMatched: number;
  /** App deployments asked for, by outcome. */
  appOutcomes: Record<string, number>;
  /** Healthy images that did not go live, and why (a verdict's honest error, or chaos's doing). */
  healthyNotLive: string[];
  breaches: Breach[];
}

/** A short policy: one-second windows, a few requests, deadlines that still give a verdict. */
const POLICY = [
  '--interval',
  '1s',
  '--bake',
  '1s',
  '--min-requests',
  '10',
  '--failure-limit',
  '1',
  '--desired',
  '2',
  '--progress-deadline',
  '60s',
  '--max-analysis',
  '60s',
  '--rollback-window',
  '5s',
];

/** Runs the chaos, writing progress lines to `say`; leaves nothing running behind it. */
export async function runChaos(
  options: ChaosOptions,
  say: (line: string) => void,
): Promise<ChaosReport> {
  const started = Date.now();
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-chaos-'));
  const logger = createLogger({ level: 'silent' });
  // Its own server, not the tests' one: this run restarts it.
  const server = await openEmbeddedPostgres(dir, logger);
  const db = connect(server.url);
  const workersLog = createWriteStream(path.join(dir, 'workers.log'));
  const workers: ChildProcess[] = [];
  let stopping = false;
  try {
    await migrateToLatest(db);
    const sim = createSimulatedAws(db, { seed: options.seed });
    // 200 requests/s per service: a 10 % canary gathers its minimum in about a second.
    await sim.store.putSetting('rps', 200);
    // The workers' accelerated CloudWatch (a second for a minute), set for the whole cloud.
    await sim.store.putSetting(METRIC_RESOLUTION_SETTING, ACCELERATED_METRIC_RESOLUTION_SECONDS);

    const workerEnv = {
      ...process.env,
      DATABASE_URL: server.url,
      BERTH_CLOUD: 'sim',
      BERTH_SIM_SEED: String(options.seed),
      // The faults are set in the shared cloud once the fleet is up (below), not from here.
      BERTH_SIM_FAULTS: undefined,
      BERTH_SIM_TIMEOUT_MS: '1000',
      BERTH_LEASE_SECONDS: String(options.leaseSeconds),
      BERTH_POLL_MS: '200',
      BERTH_LOG_LEVEL: 'warn',
    };
    let generation = 0;
    const selfExits: string[] = [];
    const startWorker = (slot: number) => {
      generation++;
      const child = spawn(process.execPath, [BIN, 'worker'], {
        cwd: ROOT,
        env: { ...workerEnv, BERTH_ACTOR: `chaos-${slot}-${generation}` },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr.pipe(workersLog, { end: false });
      child.on('exit', (code, signal) => {
        if (!stopping && signal !== 'SIGKILL') {
          // Nobody should have to: a worker rides out database restarts and AWS faults.
          selfExits.push(`worker ${slot} exited by itself (${code ?? signal ?? '?'})`);
          say(`worker ${slot} exited by itself (${code ?? signal ?? '?'}); starting it again`);
          workers[slot] = startWorker(slot);
        }
      });
      return child;
    };
    for (let slot = 0; slot < options.workers; slot++) workers[slot] = startWorker(slot);

    const cli = async (args: readonly string[]) => {
      let stderr = '';
      let stdout = '';
      const code = await runCli(args, {
        stdout: (text) => (stdout += text),
        stderr: (text) => (stderr += text),
        env: {
          DATABASE_URL: server.url,
          BERTH_CLOUD: 'sim',
          BERTH_ACTOR: 'chaos',
          BERTH_LOG_LEVEL: 'silent',
        },
        signal: new AbortController().signal,
      });
      return { code, stdout, stderr };
    };

    const names = Array.from(
      { length: options.services },
      (_, i) => `svc-${String(i + 1).padStart(3, '0')}`,
    );
    // The fleet's infrastructure (cluster, load balancer, rules, target groups) is provided
    // first, as Terraform would, on a calm cloud without throttling: it is not what is under
    // test. Then the services go live, and then the faults and the kills begin.
    const infrastructure = simulatedClients(
      createSimulatedAws(db, { seed: options.seed, throttling: false }),
    );
    for (const [index, name] of names.entries()) {
      const provided = await bootstrapSimulatedService(infrastructure, {
        name,
        cluster: 'chaos',
        port: 80,
      });
      // Every other service runs a verification task before each canary: RunTask under chaos.
      const verify = index % 2 === 0 ? ['--verify-command', 'run the integration tests'] : [];
      const made = await retried(() =>
        cli([
          'service',
          'create',
          name,
          '--cluster',
          'chaos',
          '--image',
          'nginx:1.0',
          '--port',
          '80',
          '--listener-rule',
          provided.listenerRuleArn,
          '--target-groups',
          provided.targetGroupArns.join(','),
          ...POLICY,
          ...verify,
        ]),
      );
      if (made.code !== 0) throw new Error(`service create ${name}: ${made.stderr.trim()}`);
    }
    for (const until = Date.now() + options.timeoutSeconds * 1000; ;) {
      const state = await readState(db);
      if (names.every((name) => state.live.has(name) && !state.busy.has(name))) break;
      if (Date.now() > until) throw new Error('the fleet did not go live before the chaos began');
      await sleep(500);
    }
    const appCount = Math.min(
      Math.floor(names.length / 2),
      options.apps ?? Math.max(1, Math.floor(names.length / 10)),
    );
    const apps = Array.from({ length: appCount }, (_, i) => ({
      name: `app-${String(i + 1).padStart(3, '0')}`,
      members: names.slice(names.length - 2 * (i + 1), names.length - 2 * i),
    }));
    const inApp = new Set(apps.flatMap((app) => app.members));
    for (const app of apps) {
      const made = await retried(() =>
        cli(['app', 'create', app.name, '--services', app.members.join(',')]),
      );
      if (made.code !== 0) throw new Error(`app create ${app.name}: ${made.stderr.trim()}`);
    }
    const setupSeconds = Math.round((Date.now() - started) / 1000);
    say(
      `${names.length} services live in ${setupSeconds}s (${apps.length} apps of two); faults ${options.faults} from now on`,
    );
    await sim.setFaultRates(parseFaultRates(options.faults));
    const chaosStarted = Date.now();

    const random = seeded(options.seed);
    const planned = new Map(names.map((name) => [name, 0]));
    let issued = 0;
    let kills = 0;
    let postgresRestarts = 0;
    let postgresCrashes = 0;
    let stalls = 0;
    let nextKillAt = Date.now() + options.killEverySeconds * 1000;
    let lastReport = 0;
    const deadline = chaosStarted + options.timeoutSeconds * 1000;
    const requested: number[] = [];
    const appRounds = new Map<string, number>();

    for (;;) {
      const now = Date.now();
      const state = await readState(db).catch(() => undefined); // the server may be restarting
      if (state !== undefined) {
        const finished = state.deployments.filter(
          (d) => requested.includes(d.id) && d.finishedAt !== null,
        );
        // Rollbacks an app asked for after the last rollout count too: the cloud must be still.
        const settled = state.deployments.every((d) => d.finishedAt !== null);
        if (finished.length >= options.rollouts && settled) break;
        if (now - lastReport > 5000) {
          lastReport = now;
          say(
            `${Math.round((now - chaosStarted) / 1000)}s: ${finished.length}/${options.rollouts} rollouts finished, ` +
              `${issued - finished.length} in flight, ${kills} kills, ${postgresRestarts} postgres restarts, ${postgresCrashes} crashes, ${stalls} stalls`,
          );
        }
        if (
          options.restartPostgres &&
          postgresRestarts === 0 &&
          finished.length >= options.rollouts / 3
        ) {
          say('restarting postgres (fast shutdown, same port); the workers are left to reconnect');
          await restartPostgres(path.join(dir, 'pg'), 'fast');
          postgresRestarts++;
          continue;
        }
        if (
          options.restartPostgres &&
          postgresCrashes === 0 &&
          finished.length >= (options.rollouts * 2) / 3
        ) {
          say(
            'crashing postgres (immediate shutdown: crash recovery on start); workers left alone',
          );
          await restartPostgres(path.join(dir, 'pg'), 'immediate');
          postgresCrashes++;
          continue;
        }
        if (
          stalls < options.stalls &&
          finished.length >= ((stalls + 1) * options.rollouts) / (options.stalls + 2)
        ) {
          // A stale writer: stopped mid-pass past its lease, another worker takes its services
          // over, and it resumes with whatever it was about to send.
          const slot = Math.floor(random() * workers.length);
          const victim = workers[slot];
          if (victim !== undefined && victim.exitCode === null && victim.signalCode === null) {
            say(`worker ${slot} SIGSTOPped for ${options.leaseSeconds * 2}s, then resumed`);
            victim.kill('SIGSTOP');
            await sleep(options.leaseSeconds * 2 * 1000);
            victim.kill('SIGCONT');
          }
          stalls++;
          continue;
        }
        // Each idle service whose turn has come gets its next deployment: a fifth fail.
        for (const app of apps) {
          if (issued + app.members.length > options.rollouts) break;
          if (app.members.some((name) => state.busy.has(name) || !state.live.has(name))) continue;
          const round = (appRounds.get(app.name) ?? 0) + 1;
          // A fifth of them with one member's image failing: the others must follow it back.
          const failing =
            random() < 0.2
              ? [
                  '--image',
                  `${app.members[Math.floor(random() * app.members.length)] ?? ''}=nginx:5xx-a${round}`,
                ]
              : [];
          const deployed = await cli([
            'deploy',
            app.name,
            '--image',
            `nginx:1.a${round}`,
            ...failing,
            '--json',
          ]).catch(() => undefined);
          if (deployed?.code === 0) {
            const members = (JSON.parse(deployed.stdout) as { members: { deploymentId: number }[] })
              .members;
            requested.push(...members.map((member) => member.deploymentId));
            appRounds.set(app.name, round);
            issued += members.length;
          }
          for (const name of app.members) state.busy.add(name);
        }
        for (const name of names) {
          if (issued >= options.rollouts) break;
          if (inApp.has(name)) continue;
          if (state.busy.has(name) || !state.live.has(name)) continue;
          if (random() < 0.1) {
            // A `berth scale` between rollouts: the end state must carry the last one.
            await cli(['scale', name, String(1 + Math.floor(random() * 3))]).catch(() => undefined);
          }
          const round = (planned.get(name) ?? 0) + 1;
          const image = random() < 0.2 ? `nginx:5xx-${round}` : `nginx:1.${round}`;
          const deployed = await cli(['deploy', name, '--image', image, '--json']).catch(
            () => undefined,
          );
          if (deployed?.code === 0) {
            requested.push(
              (JSON.parse(deployed.stdout) as { deployment: { id: number } }).deployment.id,
            );
            planned.set(name, round);
            issued++;
          }
          state.busy.add(name);
        }
      }
      if (now >= nextKillAt && kills < options.maxKills) {
        const slot = Math.floor(random() * workers.length);
        const victim = workers[slot];
        if (victim !== undefined) {
          await stop(victim);
          kills++;
          workers[slot] = startWorker(slot);
        }
        nextKillAt = now + options.killEverySeconds * (0.5 + random()) * 1000;
      }
      if (now > deadline) {
        say(`the run's ${options.timeoutSeconds}s are up; checking what was reached`);
        break;
      }
      await sleep(250);
    }

    stopping = true;
    await Promise.all(workers.map((worker) => stop(worker)));
    const endedAt = Date.now();
    return await judge(db, sim, {
      started: chaosStarted,
      endedAt,
      requested,
      kills,
      postgresRestarts,
      postgresCrashes,
      stalls,
      selfExits,
      graceMs: options.leaseSeconds * 1000,
    });
  } finally {
    stopping = true;
    await Promise.all(workers.map((worker) => stop(worker)));
    workersLog.end();
    await db.destroy().catch(() => undefined);
    await server.close().catch(() => undefined);
    await stopPostgres(path.join(dir, 'pg')).catch(() => undefined);
    if (process.env['BERTH_CHAOS_KEEP'] === undefined)
      await rm(dir, { recursive: true, force: true });
    else say(`kept ${dir} (workers.log, postgres.log)`);
  }
}

/** What the orchestrator needs each turn: deployments, and which services are busy or live. */
async function readState(db: Db) {
  const rows = await db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .innerJoin('releases', 'releases.id', 'deployments.to_release_id')
    .select([
      'deployments.id',
      'services.name',
      'deployments.created_at',
      'deployments.finished_at',
      'deployments.outcome',
      'deployments.reason',
      'releases.image',
      'deployments.to_release_id',
      'services.current_release_id',
    ])
    .orderBy('deployments.id')
    .execute();
  const deployments: (DeploymentRecord & { toReleaseId: number })[] = rows.map((row) => ({
    id: row.id,
    toReleaseId: row.to_release_id,
    service: row.name,
    createdAt: row.created_at.getTime(),
    finishedAt: row.finished_at?.getTime() ?? null,
    outcome: row.outcome,
    reason: row.reason,
    image: row.image,
  }));
  const busy = new Set(deployments.filter((d) => d.finishedAt === null).map((d) => d.service));
  const live = new Set(
    rows.filter((row) => row.current_release_id !== null).map((row) => row.name),
  );
  const liveRelease = new Map(rows.map((row) => [row.name, row.current_release_id]));
  return { deployments, busy, live, liveRelease };
}

async function judge(
  db: Db,
  sim: SimulatedAws,
  run: {
    started: number;
    endedAt: number;
    requested: number[];
    kills: number;
    postgresRestarts: number;
    postgresCrashes: number;
    stalls: number;
    selfExits: string[];
    graceMs: number;
  },
): Promise<ChaosReport> {
  const { deployments, liveRelease } = await readState(db);
  const asked = deployments.filter((d) => run.requested.includes(d.id));
  const breaches: Breach[] = [];

  // No row lost: every deployment the CLI said it recorded is there.
  const found = new Set(asked.map((d) => d.id));
  for (const id of run.requested) {
    if (!found.has(id)) breaches.push({ check: 'no row lost', detail: `deployment ${id} is gone` });
  }
  breaches.push(...unfinishedDeployments(asked), ...promotedFailures(asked));
  const appRecords = await appDeploymentRecords(db);
  breaches.push(...splitApps(appRecords));
  // A healthy member rolled back with its app is the app's promise, judged by splitApps.
  const withTheirApp = new Set(
    appRecords
      .filter((record) => record.outcome === 'rolled_back')
      .flatMap((record) => record.members.map((member) => member.deploymentId)),
  );
  const notLive = healthyNotLive(
    asked.filter((d) => !withTheirApp.has(d.id)),
    liveRelease,
  );
  breaches.push(...notLive);
  // The cloud as Berth left it, read without faults or throttling.
  await sim.clearFaults();
  breaches.push(...endStateBreaches(await endStates(db)));
  breaches.push(
    ...run.selfExits.map((detail) => ({ check: 'workers survive on their own', detail })),
  );

  const services = await db
    .selectFrom('services')
    .select(['name', 'ecs_service_name', 'listener_rule_arn'])
    .execute();
  const rules = await sim.store.operation((tx) => tx.list<RuleDoc>(KIND.rule));
  const serviceOfRule = new Map(services.map((s) => [s.listener_rule_arn, s.name]));
  const ruleRecords: RuleRecord[] = rules.flatMap((rule) => {
    const service = serviceOfRule.get(rule.RuleArn);
    return service === undefined ? [] : [{ service, changes: rule._weights }];
  });
  breaches.push(...strandedSplits(ruleRecords, deployments, run.endedAt, run.graceMs));

  const journal = await sim.journal();
  breaches.push(...repeatedCreates(journal));
  const intents = await db
    .selectFrom('events')
    .innerJoin('services', 'services.id', 'events.service_id')
    .select(['services.name', 'events.at', 'events.data'])
    .where('events.kind', 'like', 'aws.mutation.%')
    .execute();
  const intentRecords: IntentRecord[] = intents.map((row) => ({
    service: row.name,
    operation: String(row.data['operation']),
    at: row.at.getTime(),
  }));
  const byEcsName = new Map(services.map((s) => [s.ecs_service_name, s.name]));
  const serviceOf = (entry: JournalEntry): string | undefined => {
    const request = entry.request;
    const ecsName = request['service'] ?? request['serviceName'];
    if (typeof ecsName === 'string') return byEcsName.get(ecsName.split('/').at(-1) ?? ecsName);
    if (typeof request['RuleArn'] === 'string')
      return serviceOfRule.get(request['RuleArn']) ?? undefined;
    if (typeof request['family'] === 'string') return request['family'].replace(/^berth-/, '');
    // RunTask names its task definition; StopTask's answer names the stopped task's.
    for (const arn of [request['taskDefinition'], ...entry.arns]) {
      const family = typeof arn === 'string' ? /:task-definition\/berth-(.+):\d+$/.exec(arn) : null;
      if (family?.[1] !== undefined) return family[1];
    }
    return undefined;
  };
  const audit = unannouncedWrites(journal, intentRecords, serviceOf);
  breaches.push(...audit.breaches);
  if (audit.unattributed > 0) {
    breaches.push({
      check: 'the audit log and the cloud agree',
      detail: `${audit.unattributed} writes in the cloud name no service Berth knows`,
    });
  }

  const counts = await sim.callCounts();
  const outcomes: Record<string, number> = {};
  for (const deployment of asked) {
    const key = `${deployment.outcome ?? 'unfinished'}${/5xx/.test(deployment.image) ? ' (5xx image)' : ''}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  return {
    seconds: Math.round((run.endedAt - run.started) / 1000),
    rollouts: asked.length,
    outcomes,
    kills: run.kills,
    postgresRestarts: run.postgresRestarts,
    postgresCrashes: run.postgresCrashes,
    stalls: run.stalls,
    awsCalls: Object.values(counts).reduce((sum, n) => sum + n, 0),
    awsWrites: journal.length,
    auditedWritesMatched: audit.matched,
    appOutcomes: Object.fromEntries(
      [...new Set(appRecords.map((r) => r.outcome ?? 'unfinished'))].map((outcome) => [
        outcome,
        appRecords.filter((r) => (r.outcome ?? 'unfinished') === outcome).length,
      ]),
    ),
    healthyNotLive: asked
      .filter(
        (d) => !isFailingImage(d.image) && d.outcome !== 'succeeded' && !withTheirApp.has(d.id),
      )
      .map(
        (d) => `#${d.id} ${d.service} ${d.image}: ${d.outcome ?? 'unfinished'}: ${d.reason ?? ''}`,
      ),
    breaches,
  };
}

/**
 * Every app deployment with its members' outcomes; a member that went live is `reverted` when the
 * next deployment of its service is the rollback its app asked for, and that rollback finished.
 */
async function appDeploymentRecords(db: Db): Promise<AppDeploymentRecord[]> {
  const apps = await db
    .selectFrom('app_deployments')
    .innerJoin('apps', 'apps.id', 'app_deployments.app_id')
    .select([
      'app_deployments.id',
      'apps.name',
      'app_deployments.outcome',
      'app_deployments.reason',
    ])
    .orderBy('app_deployments.id')
    .execute();
  const deployments = await db
    .selectFrom('deployments')
    .innerJoin('services', 'services.id', 'deployments.service_id')
    .select([
      'deployments.id',
      'deployments.kind',
      'deployments.outcome',
      'deployments.service_id',
      'deployments.app_deployment_id',
      'services.name',
    ])
    .orderBy('deployments.id')
    .execute();
  return apps.map((app) => ({
    id: app.id,
    app: app.name,
    outcome: app.outcome,
    reason: app.reason,
    members: deployments
      .filter((d) => d.app_deployment_id === app.id)
      .map((member) => {
        const next = deployments.find(
          (d) => d.service_id === member.service_id && d.id > member.id,
        );
        return {
          service: member.name,
          deploymentId: member.id,
          outcome: member.outcome,
          reverted:
            member.outcome === 'succeeded' &&
            next?.kind === 'rollback' &&
            next.app_deployment_id === null &&
            next.outcome === 'succeeded',
        };
      }),
  }));
}

/** Every service as Berth wants it and as the simulated AWS has it. */
async function endStates(db: Db): Promise<EndState[]> {
  const cloud = new AwsCloud(
    simulatedClients(createSimulatedAws(db, { throttling: false })),
    createLogger({ level: 'silent' }),
    new RateLimiter({}),
  );
  const services = await db.selectFrom('services').selectAll().execute();
  const states: EndState[] = [];
  for (const service of services) {
    const [live, idle] =
      service.live_target_group === 'a'
        ? [service.target_group_a_arn, service.target_group_b_arn]
        : [service.target_group_b_arn, service.target_group_a_arn];
    const observed = (
      await cloud.describeServices(service.cluster, [service.ecs_service_name])
    ).get(service.ecs_service_name);
    states.push({
      service: service.name,
      desiredCount: service.desired_count,
      primaryTaskSet: service.primary_task_set_arn,
      warmTaskSet: service.warm_task_set_arn,
      liveTargetGroup: live ?? '',
      idleTargetGroup: idle ?? '',
      ecsDesiredCount: observed?.desiredCount ?? null,
      taskSets: (observed?.taskSets ?? []).map((set) => ({
        arn: set.arn,
        status: set.status,
        scalePercent: set.scalePercent,
      })),
      weights:
        service.listener_rule_arn === null
          ? {}
          : await cloud.readRuleWeights(service.listener_rule_arn),
    });
  }
  return states;
}

/**
 * Stops the postmaster — a fast shutdown, or an immediate one (a crash: no checkpoint, WAL
 * replayed on start) — and starts it again with the same command line, so that it listens on
 * the same port: what an RDS reboot, a failover or a crashed host looks like to the workers.
 */
async function restartPostgres(pgData: string, mode: 'fast' | 'immediate'): Promise<void> {
  const pid = await postmasterPid(pgData);
  const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((arg) => arg !== '');
  const owner = await stat(pgData);
  await stopPostgres(pgData, mode);
  const [binary, ...args] = command;
  if (binary === undefined) throw new Error('could not read the postmaster command line');
  const log = path.join(path.dirname(pgData), 'postgres.log');
  const child = spawn(binary, args, {
    uid: owner.uid,
    gid: owner.gid,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  child.unref();
  // Ready when it has written its pid file's status line.
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const status = await readFile(path.join(pgData, 'postmaster.pid'), 'utf8').catch(() => '');
    if (status.split('\n')[7]?.trim() === 'ready') return;
    await sleep(100);
  }
  throw new Error(`postgres did not come back within 30s; see ${log}`);
}

async function postmasterPid(pgData: string): Promise<number> {
  const text = await readFile(path.join(pgData, 'postmaster.pid'), 'utf8');
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${pgData}`);
  return pid;
}

/**
 * Fast shutdown (SIGINT): open transactions roll back, clients are disconnected. Immediate
 * (SIGQUIT, `pg_ctl stop -m immediate`): every process quits at once, as in a crash.
 */
async function stopPostgres(pgData: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  const pid = await postmasterPid(pgData);
  process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  throw new Error(`postgres ${pid} did not stop within 30s`);
}

async function stop(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  worker.kill('SIGKILL');
  await once(worker, 'exit');
}

/** A CLI command retried while the database restarts under it. */
async function retried<T extends { code: number }>(run: () => Promise<T>): Promise<T> {
  let result = await run();
  for (let attempt = 1; result.code === 1 && attempt < 5; attempt++) {
    await sleep(500 * attempt);
    result = await run();
  }
  return result;
}

/** mulberry32: the run's choices (images, victims, gaps) from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The report as a platform engineer reads it; true when every check held. */
export function printReport(
  report: ChaosReport,
  options: ChaosOptions,
  say: (line: string) => void,
): boolean {
  say('');
  say(
    `chaos: ${report.rollouts} rollouts in ${report.seconds}s, ${options.workers} workers, faults ${options.faults}`,
  );
  say(
    `  outcomes: ${Object.entries(report.outcomes)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}`,
  );
  say(
    `  ${report.kills} workers SIGKILLed, ${report.stalls} SIGSTOPped past their lease and resumed, postgres restarted ${report.postgresRestarts}× and crashed ${report.postgresCrashes}×`,
  );
  say(
    `  AWS calls answered: ${report.awsCalls}; writes that took effect: ${report.awsWrites}, ${report.auditedWritesMatched} of them matched to an audit entry`,
  );
  say(
    `  app deployments: ${
      Object.entries(report.appOutcomes)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ') || 'none'
    }`,
  );
  for (const line of report.healthyNotLive) say(`  healthy image not live: ${line}`);
  if (report.breaches.length === 0) {
    say(
      '  every check held: all deployments final, every app deployment all live or all rolled back, every healthy release live unless superseded, no failing canary promoted, no stranded split weights, no create repeated, no row lost, every AWS write matched to its own audit entry, the cloud in the desired state',
    );
    return true;
  }
  say(`  ${report.breaches.length} checks broke:`);
  for (const breach of report.breaches.slice(0, 30)) say(`  ✗ ${breach.check}: ${breach.detail}`);
  return false;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        rollouts: { type: 'string' },
        services: { type: 'string' },
        apps: { type: 'string' },
        workers: { type: 'string' },
        'kill-every': { type: 'string' },
        faults: { type: 'string' },
        'no-postgres-restart': { type: 'boolean' },
        seed: { type: 'string' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
  const count = (value: string | undefined, fallback: number, name: string) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--${name} must be a whole number ≥ 1, got ${JSON.stringify(value)}`);
    return n;
  };
  let options: ChaosOptions;
  try {
    options = {
      ...FULL_RUN,
      rollouts: count(parsed.rollouts, FULL_RUN.rollouts, 'rollouts'),
      services: count(parsed.services, FULL_RUN.services, 'services'),
      ...(parsed.apps !== undefined ? { apps: count(parsed.apps, 1, 'apps') } : {}),
      workers: count(parsed.workers, FULL_RUN.workers, 'workers'),
      killEverySeconds: count(parsed['kill-every'], FULL_RUN.killEverySeconds, 'kill-every'),
      faults: parsed.faults ?? process.env['BERTH_SIM_FAULTS'] ?? FULL_RUN.faults,
      restartPostgres: parsed['no-postgres-restart'] !== true,
      seed: count(parsed.seed, FULL_RUN.seed, 'seed'),
    };
    parseFaultRates(options.faults); // a typo is refused before anything starts
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    return 2;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const report = await runChaos(options, say);
  const held = printReport(report, options, say);
  const file = await writeRunResults('chaos', { options, held, report });
  say(`  results: ${file}`);
  return held ? 0 : 1;
}

if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === path.resolve(process.argv[1])
) {
  process.exitCode = await main();
}

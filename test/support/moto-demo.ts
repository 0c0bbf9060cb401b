import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AwsCloud, type AwsClients } from '../../src/cloud/aws-cloud.ts';
import { createLogger } from '../../src/logging.ts';
import { Worker } from '../../src/reconciler/worker-loop.ts';
import { BIN, ROOT, berth, type CliResult } from './cli.ts';
import { testDatabase, type TestDatabase } from './database.ts';
import { eventually } from './eventually.ts';
import { motoClients, motoPlace, sharedMoto, type Moto } from './moto.ts';

/** The cluster `aMotoDemo` bootstraps. */
export const MOTO_CLUSTER = 'demo';

/** What `berth infra bootstrap --json` reports, as far as these tests read it. */
export interface BootstrapReport {
  vpcId: string;
  subnets: string[];
  services: { listenerRuleArn: string; targetGroupArns: [string, string] }[];
}

/** A deployment as `berth history --json` lists it. */
export interface HistoryDeployment {
  finished: boolean;
  outcome: string | null;
  reason: string | null;
}

/** `berth worker` and `berth stand-in` as processes, against a demo account on moto. */
export interface MotoProcesses {
  standIn: ChildProcessByStdio<null, null, Readable>;
  /** What each has written to stderr so far. */
  workerErr: () => string;
  standInErr: () => string;
  /** The newest deployment of `web` once it has finished. */
  newestFinished: (timeoutMs?: number) => Promise<HistoryDeployment>;
}

/** A moto account made ready as the quick start makes one, with a database of its own. */
export interface MotoDemo {
  moto: Moto;
  clients: AwsClients;
  /** The environment a `berth` command needs to reach this moto. */
  env: Record<string, string>;
  database: TestDatabase;
  infra: BootstrapReport;
  /** The listener rule and the two target groups the bootstrap made for service `web`. */
  rule: string;
  targetGroups: [string, string];
  /** The default security group of the bootstrap's VPC (awsvpc task sets need one). */
  defaultSecurityGroup: () => Promise<string>;
  /** `berth service create web` in the demo cluster, behind the bootstrap's rule, with `flags`. */
  createWeb: (flags: readonly string[]) => Promise<CliResult>;
  /** Starts `berth worker` (BERTH_CLOUD=aws) and `berth stand-in`, killed when the test ends. */
  spawnWorkerAndStandIn: (workerEnv?: Record<string, string>) => MotoProcesses;
  /** Starts a worker in this process on the AWS adapter, stopped when the test ends. */
  startWorker: (name: string) => Worker;
}

/**
 * The shared moto, reset, and `berth infra bootstrap --cluster demo --load-balancer berth
 * --service web:80` run against it (which also makes the account's ecsTaskExecutionRole): what
 * every scenario against moto starts from.
 */
export async function aMotoDemo(label: string): Promise<MotoDemo> {
  const moto = await sharedMoto();
  await moto.reset();
  const clients = motoClients(moto.endpoint);
  const place = motoPlace(moto.endpoint);
  const env = {
    AWS_REGION: place.region,
    AWS_ACCESS_KEY_ID: place.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: place.credentials.secretAccessKey,
    AWS_ENDPOINT_URL: moto.endpoint,
  };
  const database = await testDatabase(label);
  const boot = await berth(
    '',
    [
      'infra',
      'bootstrap',
      '--cluster',
      MOTO_CLUSTER,
      '--load-balancer',
      'berth',
      '--service',
      'web:80',
      '--json',
    ],
    { env },
  );
  if (boot.code !== 0) throw new Error(`infra bootstrap exited ${boot.code}: ${boot.stderr}`);
  const infra = JSON.parse(boot.stdout) as BootstrapReport;
  const web = infra.services[0];
  if (web === undefined) throw new Error(`infra bootstrap made no service: ${boot.stdout}`);
  const rule = web.listenerRuleArn;
  const targetGroups = web.targetGroupArns;

  const defaultSecurityGroup = async () => {
    // Berth has no EC2 client; the test asks EC2 as a person would.
    const ec2 = new EC2Client(place);
    try {
      const groups = await ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: 'vpc-id', Values: [infra.vpcId] },
            { Name: 'group-name', Values: ['default'] },
          ],
        }),
      );
      return groups.SecurityGroups?.[0]?.GroupId ?? '';
    } finally {
      ec2.destroy();
    }
  };

  const createWeb = (flags: readonly string[]) =>
    berth(database.url, [
      'service',
      'create',
      'web',
      '--cluster',
      MOTO_CLUSTER,
      '--listener-rule',
      rule,
      '--target-groups',
      targetGroups.join(','),
      ...flags,
    ]);

  const spawnWorkerAndStandIn = (workerEnv: Record<string, string> = {}): MotoProcesses => {
    const worker = spawn(process.execPath, [BIN, 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        DATABASE_URL: database.url,
        BERTH_CLOUD: 'aws',
        BERTH_METRICS_DELAY_SECONDS: '0',
        // The stand-in publishes a datapoint a second, not AWS's one a minute: windows of 2 s.
        BERTH_METRIC_RESOLUTION_SECONDS: '1',
        BERTH_POLL_MS: '100',
        BERTH_LOG_LEVEL: 'error',
        ...workerEnv,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let workerErr = '';
    worker.stderr.on('data', (chunk: Buffer) => (workerErr += chunk.toString()));
    // moto stores API state only: it starts no task and moves no traffic. `berth stand-in`
    // plays the part ECS and the ALB would — a healthy target per task a task set should run,
    // and the ALB metrics the rule's weights produce, 30 % 5xx from a `-5xx` image — as compose
    // runs it.
    const standIn = spawn(
      process.execPath,
      [BIN, 'stand-in', '--cluster', MOTO_CLUSTER, '--requests-per-second', '200'],
      {
        cwd: ROOT,
        env: { ...process.env, ...env, BERTH_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let standInErr = '';
    standIn.stderr.on('data', (chunk: Buffer) => (standInErr += chunk.toString()));
    database.defer(async () => {
      for (const child of [standIn, worker]) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      }
    });
    return {
      standIn,
      workerErr: () => workerErr,
      standInErr: () => standInErr,
      newestFinished: (timeoutMs = 60_000) =>
        eventually(
          'the newest deployment to finish',
          async () => {
            const history = JSON.parse(
              (await berth(database.url, ['history', 'web', '--json'])).stdout,
            ) as { deployments: HistoryDeployment[] };
            const deployment = history.deployments[0];
            return deployment?.finished === true && deployment;
          },
          {
            timeoutMs,
            pollMs: 250,
            explain: () => `worker said: ${workerErr}; stand-in said: ${standInErr}`,
          },
        ),
    };
  };

  const startWorker = (name: string) => {
    const logger = createLogger({ level: process.env['BERTH_TEST_LOG_LEVEL'] ?? 'silent' });
    const worker = new Worker({
      db: database.db,
      databaseUrl: database.url,
      cloud: new AwsCloud(clients, logger),
      logger,
      name,
      infrastructure: undefined,
      pollMs: 100,
      leaseMs: 10_000,
      errorBackoffMs: 200,
      settings: { resyncMs: 60_000, waitMs: 200, metricsDelayMs: 0 },
    });
    worker.start();
    database.defer(() => worker.stop());
    return worker;
  };

  return {
    moto,
    clients,
    env,
    database,
    infra,
    rule,
    targetGroups,
    defaultSecurityGroup,
    createWeb,
    spawnWorkerAndStandIn,
    startWorker,
  };
}

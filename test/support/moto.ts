import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AwsClients } from '../../src/cloud/aws-cloud.ts';
import { awsClientsAt, type AwsClientPlace } from '../../src/cloud/aws/clients.ts';

/** A moto server the contract suite talks to, and how to clear it and let go of it. */
export interface Moto {
  /** `http://host:port`, for the SDK clients' `endpoint`. */
  endpoint: string;
  /** Where it came from, for the test output. */
  source: string;
  /** Clears every resource moto holds (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** The moto image run under testcontainers (DESIGN §7). */
export const MOTO_IMAGE = 'motoserver/moto:5.1.0';

/** How long a moto started here may take to answer. */
const START_TIMEOUT_MS = 30_000;

/**
 * The order DESIGN §7 gives: `AWS_ENDPOINT_URL`; else a testcontainers moto when a Docker engine
 * answers; else `moto_server` from PATH. There is no fourth choice: with no moto the contract
 * suite fails instead of skipping.
 */
export async function startMoto(env: NodeJS.ProcessEnv = process.env): Promise<Moto> {
  const url = env['AWS_ENDPOINT_URL'];
  if (url !== undefined && url !== '') {
    const endpoint = url.replace(/\/+$/, '');
    return {
      endpoint,
      source: `AWS_ENDPOINT_URL (${endpoint})`,
      reset: () => resetMoto(endpoint),
      stop: () => Promise.resolve(),
    };
  }
  const container = await startContainer();
  if (container !== undefined) return container;
  return startProcess();
}

async function startContainer(): Promise<Moto | undefined> {
  const { getContainerRuntimeClient, GenericContainer, Wait } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker engine here: fall through to moto_server on PATH
  }
  const container = await new GenericContainer(MOTO_IMAGE)
    .withExposedPorts(5000)
    .withWaitStrategy(Wait.forHttp('/moto-api/', 5000))
    .withStartupTimeout(START_TIMEOUT_MS)
    .start();
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(5000)}`;
  return {
    endpoint,
    source: `testcontainers (${MOTO_IMAGE})`,
    reset: () => resetMoto(endpoint),
    stop: async () => {
      await container.stop();
    },
  };
}

async function startProcess(): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  try {
    child = await spawnMoto(port);
  } catch (error) {
    throw new Error(
      'no moto for the contract suite: set AWS_ENDPOINT_URL, run a Docker engine, or put ' +
        `moto_server on PATH (pip install 'moto[server]'): ${(error as Error).message}`,
      { cause: error },
    );
  }
  // The backstop for a test process that ends without its after hooks (a crash, a timeout).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `moto_server exited (${child.exitCode ?? child.signalCode ?? ''}) before answering: ${output}`,
      );
    }
    if (await answers(`${endpoint}/moto-api/`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms`);
    }
    await sleep(100);
  }
  return {
    endpoint,
    source: `moto_server on PATH (${endpoint})`,
    reset: () => resetMoto(endpoint),
    stop,
  };
}

/** Spawns moto_server, resolving once it runs and rejecting when it cannot start (ENOENT). */
async function spawnMoto(port: number): Promise<ChildProcess> {
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await Promise.race([
    once(child, 'spawn'),
    once(child, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  return child;
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function resetMoto(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`moto reset answered ${response.status}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

let shared: Promise<Moto> | undefined;

/**
 * One moto per test process, started on first use. A failure to find one is every caller's
 * failure, not a skip. Stop it with `stopSharedMoto` in a file-level `after` hook; a moto_server
 * this process spawned is also killed when the process exits, whatever happened before.
 */
export function sharedMoto(): Promise<Moto> {
  shared ??= startMoto();
  return shared;
}

/** Stops the shared moto, if one was started; the next `sharedMoto()` starts another. */
export async function stopSharedMoto(): Promise<void> {
  const starting = shared;
  shared = undefined;
  const moto = await starting?.catch(() => undefined);
  await moto?.stop();
}

/** Where moto answers, as whom: any credentials do, moto checks no signature. */
export function motoPlace(endpoint: string): Required<AwsClientPlace> {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
}

/**
 * The SDK clients Berth uses, pointed at moto: one attempt each, so the adapter's own retry
 * policy is the one under test, as against AWS.
 */
export function motoClients(endpoint: string): AwsClients {
  return awsClientsAt(motoPlace(endpoint));
}

/** A VPC and two of its subnets (in two zones), as a load balancer and awsvpc tasks need. */
export interface MotoNetwork {
  vpcId: string;
  subnets: [string, string];
}

/**
 * The default VPC and subnets moto makes on start and on every reset (with new ids each time).
 * Berth has no EC2 client, so this asks moto's EC2 query API directly; moto checks no
 * signature, only which service the credential scope names.
 */
export async function motoDefaultNetwork(endpoint: string): Promise<MotoNetwork> {
  const response = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, ' +
        'SignedHeaders=host, Signature=0',
    },
    body: 'Action=DescribeSubnets&Version=2016-11-15',
  });
  const xml = await response.text();
  if (!response.ok) throw new Error(`moto DescribeSubnets answered ${response.status}: ${xml}`);
  // Default subnets carry no tags, so no <item> nests inside theirs.
  const subnets = [...xml.matchAll(/<item>([\s\S]*?)<\/item>/g)]
    .map(([, item = '']) => ({
      subnetId: /<subnetId>([^<]+)<\/subnetId>/.exec(item)?.[1],
      vpcId: /<vpcId>([^<]+)<\/vpcId>/.exec(item)?.[1],
      zone: /<availabilityZone>([^<]+)<\/availabilityZone>/.exec(item)?.[1],
      isDefault: /<defaultForAz>true<\/defaultForAz>/.test(item),
    }))
    .filter((subnet) => subnet.isDefault && subnet.subnetId !== undefined);
  const first = subnets[0];
  const other = subnets.find(
    (subnet) => subnet.vpcId === first?.vpcId && subnet.zone !== first?.zone,
  );
  if (first?.subnetId === undefined || first.vpcId === undefined || other?.subnetId === undefined) {
    throw new Error(`moto has no default VPC with subnets in two zones: ${xml.slice(0, 500)}`);
  }
  return { vpcId: first.vpcId, subnets: [first.subnetId, other.subnetId] };
}

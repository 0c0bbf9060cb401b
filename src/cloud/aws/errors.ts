const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'NotAuthorized',
]);

/**
 * An AWS error rewritten so that a person can act on it: a refusal names the IAM action and the
 * resource to grant, a missing thing names itself, an endpoint that does not answer names the
 * endpoint (and the variable that set it). The message says the operation and AWS's words once
 * each (`ecs:DescribeServices failed: cannot reach the AWS endpoint http://127.0.0.1:4566
 * (AWS_ENDPOINT_URL): connect ECONNREFUSED 127.0.0.1:4566`). The error's name is not in the
 * message, where printers that show names would say it twice (`Error: Error: …`); it stays on
 * `name` (callers test it, e.g. TaskSetNotFoundException). The original is the `cause`.
 */
export function explainAwsError(call: string, resource: string, error: unknown): Error {
  if (!(error instanceof Error))
    return new Error(`${call} on ${resource} failed: ${String(error)}`);
  const action = call.replace(/^elbv2:/, 'elasticloadbalancing:');
  const network = error as {
    code?: unknown;
    address?: unknown;
    port?: unknown;
    hostname?: unknown;
  };
  const code = typeof network.code === 'string' ? network.code : undefined;
  let message: string;
  if (ACCESS_DENIED.has(error.name)) {
    message =
      `the role Berth runs as may not call ${action} on ${resource}; ` +
      `allow "${action}" for it (see docs/iam-policy.json). AWS said: ${error.message}`;
  } else if (/NotFound(Exception)?$/.test(error.name)) {
    message = `${call} found no ${resource} (${error.message})`;
  } else if (
    error.name === 'TimeoutError' ||
    (code !== undefined &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|EPIPE)$/.test(
        code,
      ))
  ) {
    // Where the socket went, from the error (a timeout does not say); shown as the configured
    // endpoint when one of the SDK's endpoint variables points there, so that the person knows
    // which setting to check.
    const host = [network.address, network.hostname].find((value) => typeof value === 'string');
    const port = typeof network.port === 'number' ? `:${network.port}` : '';
    let endpoint =
      typeof host === 'string' ? `${host.includes(':') ? `[${host}]` : host}${port}` : undefined;
    const api = call.slice(0, call.indexOf(':'));
    const service = (
      {
        ecs: 'ECS',
        elbv2: 'ELASTIC_LOAD_BALANCING_V2',
        ecr: 'ECR',
        cloudwatch: 'CLOUDWATCH',
        ec2: 'EC2',
      } as Partial<Record<string, string>>
    )[api];
    const variables = [
      ...(service !== undefined ? [`AWS_ENDPOINT_URL_${service}`] : []),
      'AWS_ENDPOINT_URL',
    ];
    for (const variable of variables) {
      const value = process.env[variable];
      if (value === undefined || value === '') continue;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        continue;
      }
      const urlHost = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const urlPort = `:${url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'}`;
      if (host === undefined || (urlHost === host && (port === '' || urlPort === port))) {
        endpoint = `${value.replace(/\/+$/, '')} (${variable})`;
        break;
      }
    }
    const lost = code === 'ECONNRESET' || code === 'EPIPE';
    message =
      `${call} failed: ${lost ? 'lost the connection to' : 'cannot reach'} ` +
      `${endpoint !== undefined ? `the AWS endpoint ${endpoint}` : 'AWS'}: ${error.message}`;
  } else {
    message = `${call} on ${resource} failed: ${error.message}`;
  }
  const explained = new Error(message, { cause: error });
  explained.name = error.name;
  return explained;
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  arnParts,
  checkTaskSize,
  formatDuration,
  InputError,
  parseClusterName,
  parseConfidence,
  parseCount,
  parseDuration,
  parseEnvAssignment,
  parseEnvKey,
  parseHealthPath,
  parseImageRef,
  parseLatency,
  parseLaunchType,
  parseListenerRuleArn,
  parseMessage,
  parsePort,
  parseRate,
  parseReleaseVersion,
  parseRoleArn,
  parseSecretArn,
  parseSecretAssignment,
  parseSecurityGroupIds,
  parseServiceName,
  parseSteps,
  parseSubnetIds,
  parseTargetGroupArn,
  parseTargetGroupPair,
} from '../src/validation/fields.ts';

/**
 * Asserts that `fn` throws an InputError for `field` whose message is one line, starts with the
 * field and contains every one of `mentions` (plain strings are matched literally).
 */
function rejects(fn: () => unknown, field: string, ...mentions: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
    assert.equal(e.field, field);
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    assert.doesNotMatch(e.message, /[\n\r\u2028\u2029]/, 'the message is one line');
    for (const mention of mentions) {
      if (typeof mention === 'string') {
        assert.ok(e.message.includes(mention), `${JSON.stringify(e.message)} mentions ${mention}`);
      } else {
        assert.match(e.message, mention);
      }
    }
    return true;
  });
}

/** The JSON-quoted form a message uses for a bad value. */
const q = (value: string): string => JSON.stringify(value);

const ACCOUNT = '123456789012';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const ECR = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const RULE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener-rule/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const TG_BLUE = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-blue/73e2d6bc24d8a067`;
const TG_GREEN = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-green/0123456789abcdef`;
const SECRET = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:prod/db-password-AbCdEf`;
const PARAMETER = `arn:aws:ssm:eu-west-2:${ACCOUNT}:parameter/prod/db/password`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/ecsTaskExecutionRole`;

describe('parseServiceName', () => {
  it('accepts letters, digits, hyphens and underscores', () => {
    assert.equal(parseServiceName('NAME', 'Web-api_2'), 'Web-api_2');
  });

  it('accepts a 255-character name', () => {
    const name = 'a'.repeat(255);
    assert.equal(parseServiceName('NAME', name), name);
  });

  it('refuses a 256-character name', () => {
    const name = 'a'.repeat(256);
    rejects(() => parseServiceName('NAME', name), 'NAME', q(name), '1 to 255');
  });

  it('refuses an empty name', () => {
    rejects(() => parseServiceName('NAME', ''), 'NAME', '""', 'letters, digits, hyphens');
  });

  it('refuses dots and spaces', () => {
    rejects(() => parseServiceName('NAME', 'web.api'), 'NAME', '"web.api"');
    rejects(() => parseServiceName('--service', 'web api'), '--service', '"web api"');
  });
});

describe('parseClusterName', () => {
  it('accepts a cluster name', () => {
    assert.equal(parseClusterName('--cluster', 'prod_1-a'), 'prod_1-a');
  });

  it('accepts a cluster ARN and returns it unchanged', () => {
    const arn = `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/prod`;
    assert.equal(parseClusterName('--cluster', arn), arn);
  });

  it('accepts a cluster ARN in the China partition', () => {
    const arn = `arn:aws-cn:ecs:cn-north-1:${ACCOUNT}:cluster/prod`;
    assert.equal(parseClusterName('--cluster', arn), arn);
  });

  it('refuses an ECS ARN that is not a cluster', () => {
    const arn = `arn:aws:ecs:us-east-1:${ACCOUNT}:service/prod/web`;
    rejects(() => parseClusterName('--cluster', arn), '--cluster', q(arn), 'cluster/<name>');
  });

  it('refuses a cluster ARN with a short account', () => {
    const arn = 'arn:aws:ecs:us-east-1:12345:cluster/prod';
    rejects(() => parseClusterName('--cluster', arn), '--cluster', q(arn), '12 digits');
  });

  it('refuses a name with a slash', () => {
    rejects(() => parseClusterName('--cluster', 'team/prod'), '--cluster', '"team/prod"');
  });

  it('refuses a 256-character name', () => {
    const name = 'c'.repeat(256);
    rejects(() => parseClusterName('--cluster', name), '--cluster', q(name));
  });
});

describe('parseImageRef', () => {
  it('parses a bare repository without inventing a tag', () => {
    assert.deepEqual(parseImageRef('--image', 'nginx'), {
      reference: 'nginx',
      registry: undefined,
      repository: 'nginx',
      tag: undefined,
      digest: undefined,
    });
  });

  it('parses a repository and tag', () => {
    const ref = parseImageRef('--image', 'nginx:1.27');
    assert.equal(ref.repository, 'nginx');
    assert.equal(ref.tag, '1.27');
    assert.equal(ref.registry, undefined);
  });

  it('treats a first component without a dot or colon as part of the repository', () => {
    const ref = parseImageRef('--image', 'library/nginx:1.27-alpine');
    assert.equal(ref.registry, undefined);
    assert.equal(ref.repository, 'library/nginx');
    assert.equal(ref.tag, '1.27-alpine');
  });

  it('parses a digest-only ECR reference', () => {
    const reference = `${ECR}/web@${DIGEST}`;
    assert.deepEqual(parseImageRef('--image', reference), {
      reference,
      registry: ECR,
      repository: 'web',
      tag: undefined,
      digest: DIGEST,
    });
  });

  it('parses a reference with both tag and digest', () => {
    const ref = parseImageRef('--image', `${ECR}/team/web:v1.2.3@${DIGEST}`);
    assert.equal(ref.repository, 'team/web');
    assert.equal(ref.tag, 'v1.2.3');
    assert.equal(ref.digest, DIGEST);
  });

  it('parses a registry with a port', () => {
    const ref = parseImageRef('--image', 'registry.example.com:8443/team/app:v1');
    assert.equal(ref.registry, 'registry.example.com:8443');
    assert.equal(ref.repository, 'team/app');
    assert.equal(ref.tag, 'v1');
  });

  it('parses localhost:5000/x', () => {
    const ref = parseImageRef('--image', 'localhost:5000/x');
    assert.equal(ref.registry, 'localhost:5000');
    assert.equal(ref.repository, 'x');
    assert.equal(ref.tag, undefined);
  });

  it('treats localhost without a port as a registry', () => {
    const ref = parseImageRef('--image', 'localhost/app');
    assert.equal(ref.registry, 'localhost');
    assert.equal(ref.repository, 'app');
  });

  it('reads a lone host:port as repository and tag, as the reference grammar does', () => {
    const ref = parseImageRef('--image', 'localhost:5000');
    assert.equal(ref.registry, undefined);
    assert.equal(ref.repository, 'localhost');
    assert.equal(ref.tag, '5000');
  });

  it('accepts an IPv6 registry', () => {
    assert.equal(parseImageRef('--image', '[::1]:5000/app').registry, '[::1]:5000');
  });

  it('accepts upper case in the registry host', () => {
    assert.equal(
      parseImageRef('--image', 'Registry.Example.com/app').registry,
      'Registry.Example.com',
    );
  });

  it('accepts every kind of path separator', () => {
    const ref = parseImageRef('--image', 'team/a.b/c_d/e__f/g-h/i---j');
    assert.equal(ref.registry, undefined);
    assert.equal(ref.repository, 'team/a.b/c_d/e__f/g-h/i---j');
  });

  it('trims surrounding whitespace and keeps the rest unchanged', () => {
    assert.equal(parseImageRef('--image', '  nginx:1.27\n').reference, 'nginx:1.27');
  });

  it('accepts a 128-character tag', () => {
    const tag = `v${'1'.repeat(127)}`;
    assert.equal(parseImageRef('--image', `app:${tag}`).tag, tag);
  });

  it('accepts a 255-character name', () => {
    const name = `example.com/${'a'.repeat(243)}`;
    assert.equal(parseImageRef('--image', name).repository.length, 243);
  });

  it('refuses a 256-character name', () => {
    const name = `example.com/${'a'.repeat(244)}`;
    rejects(() => parseImageRef('--image', name), '--image', q(name), '256 characters', '255');
  });

  it('refuses text with spaces and shows the expected form', () => {
    rejects(
      () => parseImageRef('--image', 'NOT A REF'),
      '--image',
      '"NOT A REF"',
      '[registry/]repository[:tag][@sha256:<64 hex>]',
    );
  });

  it('refuses a repository with uppercase letters', () => {
    rejects(
      () => parseImageRef('--image', 'Nginx:1.27'),
      '--image',
      '"Nginx:1.27"',
      'repository must be lowercase',
    );
  });

  it('refuses an uppercase first component that is not a registry', () => {
    rejects(() => parseImageRef('--image', 'Team/app'), '--image', 'repository must be lowercase');
  });

  it('refuses a digest that is not sha256 and says only sha256 is accepted', () => {
    const ref = `app@sha512:${'ab'.repeat(64)}`;
    rejects(() => parseImageRef('--image', ref), '--image', q(ref), 'only sha256');
  });

  it('refuses a sha256 digest of the wrong length', () => {
    const ref = 'app@sha256:abc123';
    rejects(() => parseImageRef('--image', ref), '--image', q(ref), '64 lowercase hex');
  });

  it('refuses a sha256 digest in upper case', () => {
    const ref = `app@${DIGEST.toUpperCase().replace('SHA256', 'sha256')}`;
    rejects(() => parseImageRef('--image', ref), '--image', q(ref));
  });

  it('refuses two @ signs', () => {
    rejects(() => parseImageRef('--image', `app@${DIGEST}@x`), '--image', 'more than one @');
  });

  it('refuses a tag starting with a dot', () => {
    rejects(() => parseImageRef('--image', 'app:.v1'), '--image', '"app:.v1"', 'tag ".v1"');
  });

  it('refuses a 129-character tag', () => {
    const ref = `app:${'v'.repeat(129)}`;
    rejects(() => parseImageRef('--image', ref), '--image', q(ref), '1 to 128');
  });

  it('refuses an empty tag', () => {
    rejects(() => parseImageRef('--image', 'app:'), '--image', '"app:"');
  });

  it('refuses an empty reference', () => {
    rejects(() => parseImageRef('--image', '   '), '--image', '""', 'empty');
  });

  it('refuses a tag without a repository', () => {
    rejects(() => parseImageRef('--image', ':1.27'), '--image', '":1.27"', 'repository is missing');
  });

  it('refuses empty path components', () => {
    rejects(() => parseImageRef('--image', 'team//app'), '--image', '"team//app"', 'empty');
    rejects(() => parseImageRef('--image', 'team/app/'), '--image', '"team/app/"');
  });

  it('refuses path components that start or end with a separator or double a dot', () => {
    rejects(() => parseImageRef('--image', '-app'), '--image', '"-app"');
    rejects(() => parseImageRef('--image', 'app-'), '--image', '"app-"');
    rejects(() => parseImageRef('--image', 'a..b'), '--image', '"a..b"');
    rejects(() => parseImageRef('--image', 'a___b'), '--image', '"a___b"');
  });

  it('refuses a registry with an invalid host or port', () => {
    rejects(
      () => parseImageRef('--image', 'bad_host.com/app'),
      '--image',
      'registry "bad_host.com"',
    );
    rejects(
      () => parseImageRef('--image', 'example.com:http/app'),
      '--image',
      '"example.com:http"',
    );
  });
});

describe('parseEnvKey', () => {
  it('accepts POSIX names', () => {
    assert.equal(parseEnvKey('--env', 'LOG_LEVEL'), 'LOG_LEVEL');
    assert.equal(parseEnvKey('--env', '_private1'), '_private1');
  });

  it('accepts names starting with AWS_', () => {
    assert.equal(parseEnvKey('--env', 'AWS_REGION'), 'AWS_REGION');
  });

  it('accepts a 255-character name and refuses a 256-character one', () => {
    assert.equal(parseEnvKey('--env', 'K'.repeat(255)).length, 255);
    rejects(() => parseEnvKey('--env', 'K'.repeat(256)), '--env', q('K'.repeat(256)), '255');
  });

  it('refuses a name starting with a digit', () => {
    rejects(() => parseEnvKey('--env', '1KEY'), '--env', '"1KEY"', 'e.g. LOG_LEVEL');
  });

  it('refuses hyphens and empty names', () => {
    rejects(() => parseEnvKey('--env', 'LOG-LEVEL'), '--env', '"LOG-LEVEL"');
    rejects(() => parseEnvKey('--env', ''), '--env', '""');
  });
});

describe('parseEnvAssignment', () => {
  it('splits at the first =', () => {
    assert.deepEqual(parseEnvAssignment('--env', 'QUERY=a=b&c=d'), ['QUERY', 'a=b&c=d']);
  });

  it('accepts an empty value', () => {
    assert.deepEqual(parseEnvAssignment('--env', 'EMPTY='), ['EMPTY', '']);
  });

  it('refuses a missing = and shows KEY=VALUE', () => {
    rejects(() => parseEnvAssignment('--env', 'LOG_LEVEL'), '--env', '"LOG_LEVEL"', 'KEY=VALUE');
  });

  it('refuses an invalid key', () => {
    rejects(() => parseEnvAssignment('--env', '1A=b'), '--env', '"1A"');
    rejects(() => parseEnvAssignment('--env', '=b'), '--env', '""');
  });

  it('accepts a 32768-character value and refuses a 32769-character one', () => {
    assert.equal(parseEnvAssignment('--env', `BIG=${'x'.repeat(32768)}`)[1].length, 32768);
    rejects(
      () => parseEnvAssignment('--env', `BIG=${'x'.repeat(32769)}`),
      '--env',
      '"BIG=xxxx',
      'BIG',
      '32769 characters',
      '32768',
    );
  });
});

describe('parseSecretAssignment', () => {
  it('accepts a Secrets Manager ARN', () => {
    assert.deepEqual(parseSecretAssignment('--secret', `DB_PASSWORD=${SECRET}`), [
      'DB_PASSWORD',
      SECRET,
    ]);
  });

  it('accepts an SSM parameter ARN', () => {
    assert.deepEqual(parseSecretAssignment('--secret', `DB=${PARAMETER}`), ['DB', PARAMETER]);
  });

  it('does not show a value that has no =', () => {
    assert.throws(
      () => parseSecretAssignment('--secret', 'hunter2'),
      (e) =>
        e instanceof InputError &&
        e.field === '--secret' &&
        !e.message.includes('hunter2') &&
        e.message.includes('KEY=ARN'),
    );
  });

  it('does not show a value that is not an ARN', () => {
    assert.throws(
      () => parseSecretAssignment('--secret', 'DB_PASSWORD=hunter2'),
      (e) =>
        e instanceof InputError &&
        e.field === '--secret' &&
        !e.message.includes('hunter2') &&
        e.message.includes('DB_PASSWORD') &&
        e.message.includes('not shown'),
    );
  });

  it('shows an ARN that is invalid', () => {
    const arn = `arn:aws:s3:::bucket/key`;
    rejects(() => parseSecretAssignment('--secret', `DB=${arn}`), '--secret', q(arn), 'DB');
  });

  it('shows an ARN given without a key', () => {
    rejects(() => parseSecretAssignment('--secret', SECRET), '--secret', q(SECRET), 'KEY=ARN');
  });

  it('refuses an invalid key', () => {
    rejects(() => parseSecretAssignment('--secret', `db-pass=${SECRET}`), '--secret', '"db-pass"');
  });
});

describe('parseListenerRuleArn', () => {
  it('accepts an ALB listener rule ARN', () => {
    assert.equal(parseListenerRuleArn('--listener-rule', RULE), RULE);
  });

  it('accepts a GovCloud listener rule ARN', () => {
    const arn = RULE.replace('arn:aws:', 'arn:aws-us-gov:').replace('us-east-1', 'us-gov-west-1');
    assert.equal(parseListenerRuleArn('--listener-rule', arn), arn);
  });

  it('refuses an NLB listener rule and says weighted forwarding is an ALB feature', () => {
    const arn = RULE.replace('/app/', '/net/');
    rejects(() => parseListenerRuleArn('--listener-rule', arn), '--listener-rule', q(arn), 'ALB');
  });

  it('refuses a listener ARN', () => {
    const arn = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2`;
    rejects(
      () => parseListenerRuleArn('--listener-rule', arn),
      '--listener-rule',
      q(arn),
      'listener-rule/app/',
    );
  });

  it('refuses an unknown partition', () => {
    const arn = RULE.replace('arn:aws:', 'arn:aws-xx:');
    rejects(() => parseListenerRuleArn('--rule', arn), '--rule', q(arn), 'partition "aws-xx"');
  });

  it('refuses a missing or malformed region', () => {
    const missing = RULE.replace('us-east-1', '');
    rejects(() => parseListenerRuleArn('--rule', missing), '--rule', q(missing), 'region');
    const bad = RULE.replace('us-east-1', 'useast1');
    rejects(() => parseListenerRuleArn('--rule', bad), '--rule', q(bad), 'region "useast1"');
  });

  it('refuses an account that is not 12 digits', () => {
    const arn = RULE.replace(ACCOUNT, '12345678901');
    rejects(() => parseListenerRuleArn('--rule', arn), '--rule', q(arn), '12 digits');
  });

  it('refuses another service', () => {
    const arn = RULE.replace('elasticloadbalancing', 'ecs');
    rejects(() => parseListenerRuleArn('--rule', arn), '--rule', q(arn), 'service "ecs"');
  });

  it('refuses text that is not an ARN', () => {
    rejects(() => parseListenerRuleArn('--rule', 'my-rule'), '--rule', '"my-rule"', 'arn:');
  });

  it('refuses an id that is not 16 hex digits', () => {
    const arn = RULE.replace('9683b2d02a6cabee', '9683b2d02a6cabeZ');
    rejects(() => parseListenerRuleArn('--rule', arn), '--rule', q(arn));
  });
});

describe('parseTargetGroupArn', () => {
  it('accepts a target group ARN', () => {
    assert.equal(parseTargetGroupArn('--target-group', TG_BLUE), TG_BLUE);
  });

  it('refuses a 33-character name', () => {
    const arn = TG_BLUE.replace('web-blue', 'n'.repeat(33));
    rejects(() => parseTargetGroupArn('--tg', arn), '--tg', q(arn), 'targetgroup/<name');
  });

  it('refuses a missing id', () => {
    const arn = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:targetgroup/web-blue`;
    rejects(() => parseTargetGroupArn('--tg', arn), '--tg', q(arn));
  });

  it('refuses a load balancer ARN', () => {
    const arn = `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:loadbalancer/app/web-alb/50dc6c495c0c9188`;
    rejects(() => parseTargetGroupArn('--tg', arn), '--tg', q(arn));
  });
});

describe('parseSecretArn', () => {
  it('accepts a Secrets Manager ARN with its random suffix', () => {
    assert.equal(parseSecretArn('--secret-arn', SECRET), SECRET);
  });

  it('accepts a Secrets Manager ARN with json-key, version-stage and version-id parts', () => {
    const arn = `${SECRET}:password:AWSCURRENT:`;
    assert.equal(parseSecretArn('--secret-arn', arn), arn);
    const key = `${SECRET}:password::`;
    assert.equal(parseSecretArn('--secret-arn', key), key);
  });

  it('accepts an SSM parameter ARN with a hierarchical name', () => {
    assert.equal(parseSecretArn('--secret-arn', PARAMETER), PARAMETER);
  });

  it('refuses a Secrets Manager ARN with only some of the extra parts', () => {
    const arn = `${SECRET}:password`;
    rejects(() => parseSecretArn('--secret-arn', arn), '--secret-arn', q(arn), 'json-key');
  });

  it('refuses an ARN of another service', () => {
    const arn = 'arn:aws:s3:::bucket/key';
    rejects(() => parseSecretArn('--secret-arn', arn), '--secret-arn', q(arn), 'secretsmanager');
  });

  it('refuses an SSM ARN that is not a parameter', () => {
    const arn = `arn:aws:ssm:us-east-1:${ACCOUNT}:document/x`;
    rejects(() => parseSecretArn('--secret-arn', arn), '--secret-arn', q(arn), 'parameter/');
  });

  it('refuses invalid characters in a secret name', () => {
    const arn = SECRET.replace('db-password', 'db password');
    rejects(() => parseSecretArn('--secret-arn', arn), '--secret-arn', q(arn));
  });
});

describe('parseRoleArn', () => {
  it('accepts a role ARN', () => {
    assert.equal(parseRoleArn('--task-role', ROLE), ROLE);
  });

  it('accepts a role ARN with a path', () => {
    const arn = `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`;
    assert.equal(parseRoleArn('--task-role', arn), arn);
  });

  it('refuses a role ARN with a region', () => {
    const arn = `arn:aws:iam:us-east-1:${ACCOUNT}:role/x`;
    rejects(() => parseRoleArn('--task-role', arn), '--task-role', q(arn), 'no region');
  });

  it('refuses a user ARN', () => {
    const arn = `arn:aws:iam::${ACCOUNT}:user/alice`;
    rejects(() => parseRoleArn('--task-role', arn), '--task-role', q(arn), 'role/');
  });

  it('refuses a role name longer than 64 characters', () => {
    const arn = `arn:aws:iam::${ACCOUNT}:role/${'r'.repeat(65)}`;
    rejects(() => parseRoleArn('--task-role', arn), '--task-role', q(arn));
  });
});

describe('parseTargetGroupPair', () => {
  it('accepts two distinct target groups', () => {
    assert.deepEqual(parseTargetGroupPair('--target-groups', `${TG_BLUE},${TG_GREEN}`), [
      TG_BLUE,
      TG_GREEN,
    ]);
  });

  it('ignores spaces around the comma', () => {
    assert.deepEqual(parseTargetGroupPair('--tgs', `${TG_BLUE} , ${TG_GREEN}`), [
      TG_BLUE,
      TG_GREEN,
    ]);
  });

  it('refuses a single target group', () => {
    rejects(() => parseTargetGroupPair('--tgs', TG_BLUE), '--tgs', q(TG_BLUE), 'two');
  });

  it('refuses three target groups', () => {
    const raw = `${TG_BLUE},${TG_GREEN},${TG_BLUE}`;
    rejects(() => parseTargetGroupPair('--tgs', raw), '--tgs', q(raw));
  });

  it('refuses the same target group twice', () => {
    const raw = `${TG_BLUE},${TG_BLUE}`;
    rejects(() => parseTargetGroupPair('--tgs', raw), '--tgs', q(raw), 'same target group');
  });

  it('refuses an invalid member', () => {
    rejects(() => parseTargetGroupPair('--tgs', `${TG_BLUE},green`), '--tgs', '"green"');
  });

  it('refuses target groups in different regions', () => {
    const west = TG_GREEN.replace('us-east-1', 'us-west-2');
    const raw = `${TG_BLUE},${west}`;
    rejects(() => parseTargetGroupPair('--tgs', raw), '--tgs', q(raw), 'same region');
  });
});

describe('arnParts', () => {
  it('splits an ARN, keeping colons in the resource', () => {
    assert.deepEqual(arnParts(`${SECRET}:password::`), {
      partition: 'aws',
      service: 'secretsmanager',
      region: 'us-east-1',
      account: ACCOUNT,
      resource: 'secret:prod/db-password-AbCdEf:password::',
    });
  });

  it('gives an empty region for IAM', () => {
    assert.equal(arnParts(ROLE).region, '');
  });

  it('throws on something that is not an ARN', () => {
    assert.throws(() => arnParts('not-an-arn'), /not-an-arn/);
  });
});

describe('parseSubnetIds', () => {
  it('accepts 17- and 8-hex-digit IDs', () => {
    assert.deepEqual(parseSubnetIds('--subnets', 'subnet-0123456789abcdef0,subnet-1a2b3c4d'), [
      'subnet-0123456789abcdef0',
      'subnet-1a2b3c4d',
    ]);
  });

  it('accepts 16 subnets and refuses 17', () => {
    const ids = Array.from({ length: 17 }, (_, i) => `subnet-${i.toString(16).padStart(8, '0')}`);
    assert.equal(parseSubnetIds('--subnets', ids.slice(0, 16).join(',')).length, 16);
    rejects(() => parseSubnetIds('--subnets', ids.join(',')), '--subnets', '17', '1 to 16');
  });

  it('refuses duplicates', () => {
    const raw = 'subnet-1a2b3c4d,subnet-1a2b3c4d';
    rejects(
      () => parseSubnetIds('--subnets', raw),
      '--subnets',
      '"subnet-1a2b3c4d"',
      'more than once',
    );
  });

  it('refuses a malformed ID', () => {
    rejects(
      () => parseSubnetIds('--subnets', 'subnet-xyz'),
      '--subnets',
      '"subnet-xyz"',
      'subnet-',
    );
    rejects(() => parseSubnetIds('--subnets', 'subnet-1a2b3c4'), '--subnets', '"subnet-1a2b3c4"');
    rejects(() => parseSubnetIds('--subnets', 'subnet-1A2B3C4D'), '--subnets', '"subnet-1A2B3C4D"');
  });

  it('refuses an empty list and empty entries', () => {
    rejects(() => parseSubnetIds('--subnets', ''), '--subnets', '""');
    rejects(
      () => parseSubnetIds('--subnets', 'subnet-1a2b3c4d,'),
      '--subnets',
      '"subnet-1a2b3c4d,"',
    );
  });
});

describe('parseSecurityGroupIds', () => {
  it('accepts up to five security groups', () => {
    const ids = [
      'sg-11111111',
      'sg-22222222',
      'sg-33333333',
      'sg-44444444',
      'sg-0123456789abcdef0',
    ];
    assert.deepEqual(parseSecurityGroupIds('--security-groups', ids.join(',')), ids);
  });

  it('refuses six security groups', () => {
    const raw = 'sg-11111111,sg-22222222,sg-33333333,sg-44444444,sg-55555555,sg-66666666';
    rejects(() => parseSecurityGroupIds('--sg', raw), '--sg', q(raw), '1 to 5');
  });

  it('refuses a malformed ID and duplicates', () => {
    rejects(() => parseSecurityGroupIds('--sg', 'sg-123'), '--sg', '"sg-123"');
    rejects(() => parseSecurityGroupIds('--sg', 'subnet-11111111'), '--sg', '"subnet-11111111"');
    rejects(
      () => parseSecurityGroupIds('--sg', 'sg-11111111,sg-11111111'),
      '--sg',
      'more than once',
    );
  });
});

describe('parseSteps', () => {
  it('parses ascending steps ending at 100', () => {
    assert.deepEqual(parseSteps('--steps', '10,100'), [10, 100]);
    assert.deepEqual(parseSteps('--steps', '5,25,100'), [5, 25, 100]);
  });

  it('accepts 100 alone', () => {
    assert.deepEqual(parseSteps('--steps', '100'), [100]);
  });

  it('ignores spaces around commas', () => {
    assert.deepEqual(parseSteps('--steps', '10, 50 ,100'), [10, 50, 100]);
  });

  it('accepts ten steps and refuses eleven', () => {
    assert.equal(parseSteps('--steps', '1,2,3,4,5,6,7,8,9,100').length, 10);
    rejects(() => parseSteps('--steps', '1,2,3,4,5,6,7,8,9,10,100'), '--steps', 'at most 10');
  });

  it('refuses descending steps', () => {
    assert.throws(
      () => parseSteps('--steps', '50,10'),
      (e) =>
        e instanceof InputError &&
        e.message ===
          '--steps: steps must ascend and end at 100, e.g. 10,100 or 5,25,100; got "50,10"',
    );
  });

  it('refuses a repeated step', () => {
    rejects(() => parseSteps('--steps', '10,10,100'), '--steps', '"10,10,100"', 'ascend');
  });

  it('refuses a zero step', () => {
    rejects(() => parseSteps('--steps', '0,100'), '--steps', '"0,100"', '1 to 100');
  });

  it('refuses steps that do not end at 100', () => {
    rejects(() => parseSteps('--steps', '10,90'), '--steps', '"10,90"', 'end at 100');
  });

  it('refuses steps over 100, fractions, words and empty entries', () => {
    rejects(() => parseSteps('--steps', '10,101'), '--steps', '"10,101"');
    rejects(() => parseSteps('--steps', '10.5,100'), '--steps', '"10.5,100"');
    rejects(() => parseSteps('--steps', 'ten,100'), '--steps', '"ten,100"');
    rejects(() => parseSteps('--steps', '10,,100'), '--steps', '"10,,100"');
    rejects(() => parseSteps('--steps', ''), '--steps', '""');
  });
});

describe('parseDuration', () => {
  const limits = { minSeconds: 1, maxSeconds: 3600 };
  const wide = { minSeconds: 0, maxSeconds: 86400 };

  it('parses seconds, minutes and hours', () => {
    assert.equal(parseDuration('--bake', '30s', limits), 30);
    assert.equal(parseDuration('--bake', '5m', limits), 300);
    assert.equal(parseDuration('--bake', '2h', wide), 7200);
  });

  it('parses 1m30s and 1h30m', () => {
    assert.equal(parseDuration('--bake', '1m30s', limits), 90);
    assert.equal(parseDuration('--bake', '1h30m', wide), 5400);
  });

  it('reads a bare whole number as seconds', () => {
    assert.equal(parseDuration('--bake', '45', limits), 45);
  });

  it('accepts zero when the limits allow it', () => {
    assert.equal(parseDuration('--bake', '0s', wide), 0);
  });

  it('refuses fractions such as 0.5s', () => {
    rejects(() => parseDuration('--bake', '0.5s', limits), '--bake', '"0.5s"', 'whole seconds');
    rejects(() => parseDuration('--bake', '1.5m', limits), '--bake', '"1.5m"');
  });

  it('refuses an unknown unit', () => {
    rejects(() => parseDuration('--bake', '2d', wide), '--bake', '"2d"', 'unknown unit "d"');
    rejects(() => parseDuration('--bake', '500ms', wide), '--bake', '"500ms"', 'unit "ms"');
    rejects(() => parseDuration('--bake', '5M', wide), '--bake', '"5M"', 'unit "M"');
  });

  it('refuses an empty string', () => {
    rejects(() => parseDuration('--bake', '', limits), '--bake', '""', 'empty');
  });

  it('refuses units out of order', () => {
    rejects(() => parseDuration('--bake', '30s5m', wide), '--bake', '"30s5m"', 'order');
  });

  it('refuses signs and spaces', () => {
    rejects(() => parseDuration('--bake', '-5s', wide), '--bake', '"-5s"');
    rejects(() => parseDuration('--bake', ' 30s', wide), '--bake', '" 30s"');
  });

  it('refuses a duration below the minimum', () => {
    assert.throws(
      () => parseDuration('--interval', '0s', limits),
      (e) =>
        e instanceof InputError &&
        e.field === '--interval' &&
        e.message === '--interval: must be from 1s to 1h; got "0s"',
    );
  });

  it('refuses a duration above the maximum', () => {
    rejects(() => parseDuration('--interval', '2h', limits), '--interval', '"2h"', '1s to 1h');
    rejects(() => parseDuration('--interval', '3601', limits), '--interval', '"3601"');
  });
});

describe('formatDuration', () => {
  it('formats whole seconds leaving out zero parts', () => {
    assert.equal(formatDuration(90), '1m30s');
    assert.equal(formatDuration(300), '5m');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(3600), '1h');
    assert.equal(formatDuration(3661), '1h1m1s');
    assert.equal(formatDuration(7230), '2h30s');
  });

  it('round-trips through parseDuration', () => {
    for (const seconds of [1, 59, 60, 61, 3599, 3600, 86399]) {
      const text = formatDuration(seconds);
      assert.equal(parseDuration('--bake', text, { minSeconds: 0, maxSeconds: 86400 }), seconds);
    }
  });

  it('throws on negative or fractional seconds', () => {
    assert.throws(() => formatDuration(-1), RangeError);
    assert.throws(() => formatDuration(1.5), RangeError);
  });
});

describe('parseLatency', () => {
  it('parses milliseconds and seconds', () => {
    assert.equal(parseLatency('--max-p99', '800ms'), 800);
    assert.equal(parseLatency('--max-p99', '1.5s'), 1500);
    assert.equal(parseLatency('--max-p99', '2s'), 2000);
    assert.equal(parseLatency('--max-p99', '0.001s'), 1);
    assert.equal(parseLatency('--max-p99', '1.2500s'), 1250);
  });

  it('reads a bare number as milliseconds', () => {
    assert.equal(parseLatency('--max-p99', '800'), 800);
  });

  it('accepts the bounds 1ms and 60s', () => {
    assert.equal(parseLatency('--max-p99', '1ms'), 1);
    assert.equal(parseLatency('--max-p99', '60s'), 60000);
    assert.equal(parseLatency('--max-p99', '60000'), 60000);
  });

  it('refuses values outside 1ms to 60s', () => {
    rejects(() => parseLatency('--max-p99', '0ms'), '--max-p99', '"0ms"', '1ms to 60s');
    rejects(() => parseLatency('--max-p99', '60001'), '--max-p99', '"60001"');
    rejects(() => parseLatency('--max-p99', '61s'), '--max-p99', '"61s"');
  });

  it('refuses fractions of a millisecond', () => {
    rejects(() => parseLatency('--max-p99', '1.5ms'), '--max-p99', '"1.5ms"', 'fraction');
    rejects(() => parseLatency('--max-p99', '0.0005s'), '--max-p99', '"0.0005s"', 'fraction');
    rejects(() => parseLatency('--max-p99', '1.5'), '--max-p99', '"1.5"', 'fraction');
  });

  it('refuses other units, words, signs and empty strings', () => {
    rejects(() => parseLatency('--max-p99', '1m'), '--max-p99', '"1m"', 'e.g. 800ms');
    rejects(() => parseLatency('--max-p99', 'fast'), '--max-p99', '"fast"');
    rejects(() => parseLatency('--max-p99', '-5ms'), '--max-p99', '"-5ms"');
    rejects(() => parseLatency('--max-p99', ''), '--max-p99', '""');
  });
});

describe('parseRate', () => {
  it('parses decimals from 0 to 1', () => {
    assert.equal(parseRate('--max-error-rate', '0.01'), 0.01);
    assert.equal(parseRate('--max-error-rate', '0'), 0);
    assert.equal(parseRate('--max-error-rate', '1'), 1);
    assert.equal(parseRate('--max-error-rate', '.5'), 0.5);
  });

  it('parses exponents', () => {
    assert.equal(parseRate('--max-error-rate', '1e-3'), 0.001);
  });

  it('parses percentages', () => {
    assert.equal(parseRate('--max-error-rate', '1%'), 0.01);
    assert.equal(parseRate('--max-error-rate', '0.5%'), 0.005);
    assert.equal(parseRate('--max-error-rate', '100%'), 1);
  });

  it('refuses negatives and values above 1', () => {
    rejects(() => parseRate('--rate', '-0.1'), '--rate', '"-0.1"', '0 to 1');
    rejects(() => parseRate('--rate', '1.01'), '--rate', '"1.01"');
    rejects(() => parseRate('--rate', '101%'), '--rate', '"101%"');
    rejects(() => parseRate('--rate', '1e3'), '--rate', '"1e3"');
  });

  it('refuses NaN, Infinity, hex, words and empty strings', () => {
    rejects(() => parseRate('--rate', 'NaN'), '--rate', '"NaN"', '0.01', '1%');
    rejects(() => parseRate('--rate', 'Infinity'), '--rate', '"Infinity"');
    rejects(() => parseRate('--rate', '0x1'), '--rate', '"0x1"');
    rejects(() => parseRate('--rate', 'low'), '--rate', '"low"');
    rejects(() => parseRate('--rate', ''), '--rate', '""');
  });
});

describe('parseConfidence', () => {
  it('parses decimals from 0.6 to 0.9999, both included', () => {
    assert.equal(parseConfidence('--confidence', '0.95'), 0.95);
    assert.equal(parseConfidence('--confidence', '0.6'), 0.6);
    assert.equal(parseConfidence('--confidence', '0.9999'), 0.9999);
    assert.equal(parseConfidence('--confidence', '.99'), 0.99);
  });

  it('parses percentages, keeping 99.99% exactly 0.9999', () => {
    assert.equal(parseConfidence('--confidence', '95%'), 0.95);
    assert.equal(parseConfidence('--confidence', '60%'), 0.6);
    assert.equal(parseConfidence('--confidence', '99.9%'), 0.999);
    assert.equal(parseConfidence('--confidence', '99.99%'), 0.9999);
  });

  it('refuses values outside 0.6 to 0.9999, saying what is valid', () => {
    rejects(
      () => parseConfidence('--confidence', '0.59'),
      '--confidence',
      q('0.59'),
      '0.6 to 0.9999',
    );
    rejects(() => parseConfidence('--confidence', '1'), '--confidence', q('1'), '0.95', '95%');
    rejects(() => parseConfidence('--confidence', '0.99999'), '--confidence', q('0.99999'));
    rejects(() => parseConfidence('--confidence', '100%'), '--confidence', q('100%'));
    rejects(() => parseConfidence('--confidence', '59.9%'), '--confidence', q('59.9%'));
    rejects(() => parseConfidence('--confidence', '0'), '--confidence');
  });

  it('suggests the percentage sign for a bare number that would be a valid percentage', () => {
    rejects(() => parseConfidence('--confidence', '95'), '--confidence', 'did you mean 95%?');
    rejects(() => parseConfidence('--confidence', '99.5'), '--confidence', 'did you mean 99.5%?');
    assert.throws(
      () => parseConfidence('--confidence', '500'),
      (e: unknown) => e instanceof InputError && !e.message.includes('did you mean'),
    );
  });

  it('refuses NaN, Infinity, negatives, words, hex and empty strings', () => {
    for (const raw of ['NaN', 'Infinity', '-0.95', 'high', '0x1', '', ' 0.95', '95 %', '0.95%%']) {
      rejects(() => parseConfidence('--confidence', raw), '--confidence', q(raw));
    }
  });
});

describe('parseCount', () => {
  const limits = { min: 0, max: 5000 };

  it('parses whole numbers within the limits', () => {
    assert.equal(parseCount('COUNT', '0', limits), 0);
    assert.equal(parseCount('COUNT', '3', limits), 3);
    assert.equal(parseCount('COUNT', '5000', limits), 5000);
  });

  it('refuses a number above the maximum with the documented message', () => {
    assert.throws(
      () => parseCount('COUNT', '5001', limits),
      (e) =>
        e instanceof InputError &&
        e.field === 'COUNT' &&
        e.message === 'COUNT: "5001" is not a whole number from 0 to 5000',
    );
  });

  it('refuses a number below the minimum', () => {
    rejects(() => parseCount('--min', '0', { min: 1, max: 10 }), '--min', '"0"', 'from 1 to 10');
  });

  it('refuses signs, exponents, fractions and spaces', () => {
    rejects(() => parseCount('COUNT', '-1', limits), 'COUNT', '"-1"');
    rejects(() => parseCount('COUNT', '+1', limits), 'COUNT', '"+1"');
    rejects(() => parseCount('COUNT', '1e3', limits), 'COUNT', '"1e3"');
    rejects(() => parseCount('COUNT', '1.0', limits), 'COUNT', '"1.0"');
    rejects(() => parseCount('COUNT', ' 1', limits), 'COUNT', '" 1"');
    rejects(() => parseCount('COUNT', '', limits), 'COUNT', '""');
  });
});

describe('parsePort', () => {
  it('parses ports from 1 to 65535', () => {
    assert.equal(parsePort('--port', '1'), 1);
    assert.equal(parsePort('--port', '8080'), 8080);
    assert.equal(parsePort('--port', '65535'), 65535);
  });

  it('refuses 0, 65536, words and signs', () => {
    rejects(() => parsePort('--port', '0'), '--port', '"0"', '1 to 65535');
    rejects(() => parsePort('--port', '65536'), '--port', '"65536"');
    rejects(() => parsePort('--port', 'http'), '--port', '"http"');
    rejects(() => parsePort('--port', '-80'), '--port', '"-80"');
    rejects(() => parsePort('--port', '80 '), '--port', '"80 "');
  });
});

describe('parseLaunchType', () => {
  it('accepts any case and returns upper case', () => {
    assert.equal(parseLaunchType('--launch-type', 'fargate'), 'FARGATE');
    assert.equal(parseLaunchType('--launch-type', 'Ec2'), 'EC2');
    assert.equal(parseLaunchType('--launch-type', 'FARGATE'), 'FARGATE');
  });

  it('refuses other launch types', () => {
    rejects(
      () => parseLaunchType('--launch-type', 'EXTERNAL'),
      '--launch-type',
      '"EXTERNAL"',
      'FARGATE or EC2',
    );
    rejects(() => parseLaunchType('--launch-type', ''), '--launch-type', '""');
  });
});

describe('checkTaskSize', () => {
  const table: [number, number[]][] = [
    [256, [512, 1024, 2048]],
    [512, range(1024, 4096, 1024)],
    [1024, range(2048, 8192, 1024)],
    [2048, range(4096, 16384, 1024)],
    [4096, range(8192, 30720, 1024)],
    [8192, range(16384, 61440, 4096)],
    [16384, range(32768, 122880, 8192)],
  ];

  it("accepts every combination in AWS's Fargate table", () => {
    for (const [cpu, memories] of table) {
      for (const memory of memories) {
        assert.doesNotThrow(() => {
          checkTaskSize('FARGATE', cpu, memory);
        }, `${cpu}/${memory}`);
      }
    }
  });

  it('refuses a Fargate CPU value outside the table and lists the valid ones', () => {
    rejects(
      () => {
        checkTaskSize('FARGATE', 300, 1024);
      },
      '--cpu',
      '300',
      '256, 512, 1024, 2048, 4096, 8192 or 16384',
    );
  });

  it('refuses Fargate memory that does not fit 256 CPU units', () => {
    rejects(
      () => {
        checkTaskSize('FARGATE', 256, 4096);
      },
      '--memory',
      '4096',
      '512, 1024 or 2048',
    );
  });

  it('refuses Fargate memory outside the range for its CPU', () => {
    rejects(
      () => {
        checkTaskSize('FARGATE', 1024, 1024);
      },
      '--memory',
      '1024 MiB',
      '2048 to 8192 MiB in steps of 1024',
    );
    rejects(
      () => {
        checkTaskSize('FARGATE', 4096, 31744);
      },
      '--memory',
      '31744',
      '8192 to 30720',
    );
  });

  it('refuses Fargate memory off the step for its CPU', () => {
    rejects(
      () => {
        checkTaskSize('FARGATE', 8192, 18432);
      },
      '--memory',
      '18432',
      'steps of 4096',
    );
    rejects(
      () => {
        checkTaskSize('FARGATE', 512, 1536);
      },
      '--memory',
      '1536',
    );
  });

  it('accepts EC2 sizes within the ECS limits', () => {
    assert.doesNotThrow(() => {
      checkTaskSize('EC2', 128, 6);
    });
    assert.doesNotThrow(() => {
      checkTaskSize('EC2', 196608, 1048576);
    });
    assert.doesNotThrow(() => {
      checkTaskSize('EC2', 300, 700);
    });
  });

  it('refuses EC2 CPU outside 128 to 196608', () => {
    rejects(
      () => {
        checkTaskSize('EC2', 64, 512);
      },
      '--cpu',
      '64',
      '128 to 196608',
    );
    rejects(
      () => {
        checkTaskSize('EC2', 1.5, 512);
      },
      '--cpu',
      '1.5',
    );
  });

  it('refuses EC2 memory outside 6 to 1048576 MiB', () => {
    rejects(
      () => {
        checkTaskSize('EC2', 256, 5);
      },
      '--memory',
      '5',
      '6 to 1048576',
    );
    rejects(
      () => {
        checkTaskSize('EC2', 256, 1048577);
      },
      '--memory',
      '1048577',
    );
  });
});

describe('parseHealthPath', () => {
  it('accepts paths with printable ASCII', () => {
    assert.equal(parseHealthPath('--health-path', '/'), '/');
    assert.equal(parseHealthPath('--health-path', '/healthz'), '/healthz');
    assert.equal(parseHealthPath('--health-path', '/status?full=1&x=~y'), '/status?full=1&x=~y');
  });

  it('accepts 1024 characters and refuses 1025', () => {
    const path = `/${'a'.repeat(1023)}`;
    assert.equal(parseHealthPath('--health-path', path), path);
    rejects(() => parseHealthPath('--health-path', `${path}a`), '--health-path', '"/aaaa', '1024');
  });

  it('refuses a path without a leading slash', () => {
    rejects(
      () => parseHealthPath('--health-path', 'healthz'),
      '--health-path',
      '"healthz"',
      'e.g. /healthz',
    );
  });

  it('refuses spaces, tabs, non-ASCII and empty paths', () => {
    rejects(
      () => parseHealthPath('--health-path', '/health check'),
      '--health-path',
      '"/health check"',
    );
    rejects(() => parseHealthPath('--health-path', '/a\tb'), '--health-path', q('/a\tb'));
    rejects(() => parseHealthPath('--health-path', '/café'), '--health-path', '"/café"');
    rejects(() => parseHealthPath('--health-path', ''), '--health-path', '""');
  });
});

describe('parseMessage', () => {
  it('trims the text', () => {
    assert.equal(
      parseMessage('--message', '  roll back the cache change  '),
      'roll back the cache change',
    );
  });

  it('accepts 1024 characters and refuses 1025', () => {
    assert.equal(parseMessage('--message', 'm'.repeat(1024)).length, 1024);
    rejects(() => parseMessage('--message', 'm'.repeat(1025)), '--message', '"mmmm', '1024');
  });

  it('counts characters rather than UTF-16 units', () => {
    assert.equal(parseMessage('--message', '🚀'.repeat(1024)), '🚀'.repeat(1024));
  });

  it('refuses a newline and shows it escaped on one line', () => {
    rejects(
      () => parseMessage('--message', 'line one\nline two'),
      '--message',
      '"line one\\nline two"',
    );
  });

  it('refuses tabs and Unicode line separators', () => {
    rejects(() => parseMessage('--message', 'a\tb'), '--message', '"a\\tb"');
    rejects(() => parseMessage('--message', 'a\u2028b'), '--message', '"a\\u2028b"');
  });

  it('refuses an empty or blank message', () => {
    rejects(() => parseMessage('--message', ''), '--message', '""', 'empty');
    rejects(() => parseMessage('--message', '   '), '--message', '"   "');
  });
});

describe('parseReleaseVersion', () => {
  it('parses v3 and 3', () => {
    assert.equal(parseReleaseVersion('VERSION', 'v3'), 3);
    assert.equal(parseReleaseVersion('VERSION', '3'), 3);
    assert.equal(parseReleaseVersion('VERSION', 'V12'), 12);
  });

  it('refuses version 0', () => {
    rejects(() => parseReleaseVersion('VERSION', 'v0'), 'VERSION', '"v0"', 'at least 1');
    rejects(() => parseReleaseVersion('VERSION', '0'), 'VERSION', '"0"');
  });

  it('refuses other forms', () => {
    rejects(() => parseReleaseVersion('VERSION', 'v'), 'VERSION', '"v"');
    rejects(() => parseReleaseVersion('VERSION', '-1'), 'VERSION', '"-1"');
    rejects(() => parseReleaseVersion('VERSION', 'v1.2'), 'VERSION', '"v1.2"');
    rejects(() => parseReleaseVersion('VERSION', 'version3'), 'VERSION', '"version3"');
    rejects(() => parseReleaseVersion('VERSION', ''), 'VERSION', '""');
  });
});

function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let v = from; v <= to; v += step) values.push(v);
  return values;
}

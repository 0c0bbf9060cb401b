import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CreateClusterCommand, ECSServiceException } from '@aws-sdk/client-ecs';
import { AwsCloud } from '../src/cloud/aws-cloud.ts';
import { createSimulatedAws, simulatedClients } from '../src/cloud/sim/index.ts';
import { createLogger } from '../src/logging.ts';
import { testDatabase } from './support/database.ts';

const logger = createLogger({ level: 'silent' });
const TASK_SET = 'arn:aws:ecs:us-east-1:123456789012:task-set/demo/web/ecs-svc/1234567890123456789';

it('an AccessDenied names the IAM action to grant and the resource it was refused on', async () => {
  const { db } = await testDatabase('access denied');
  const clients = simulatedClients(createSimulatedAws(db, { throttling: false }));
  // A scripted refusal, as IAM would answer a role without ecs:UpdateTaskSet.
  clients.ecs.middlewareStack.addRelativeTo(
    () => () =>
      Promise.reject(
        new ECSServiceException({
          name: 'AccessDeniedException',
          $fault: 'client',
          message: 'User is not authorized to perform: ecs:UpdateTaskSet',
          $metadata: { httpStatusCode: 400 },
        }),
      ),
    { relation: 'before', toMiddleware: 'berthSimulatedAws', name: 'denyAll' },
  );
  const cloud = new AwsCloud(clients, logger);
  await assert.rejects(cloud.setTaskSetScale('demo', 'web', TASK_SET, 10), (error: Error) => {
    assert.equal(error.name, 'AccessDeniedException');
    assert.match(
      error.message,
      /may not call ecs:UpdateTaskSet on arn:aws:ecs:.*task-set\/demo\/web\//,
    );
    assert.match(error.message, /docs\/iam-policy\.json/);
    return true;
  });
});

it('a missing resource is named, and keeps the name AWS gave the error', async () => {
  const { db } = await testDatabase('missing resource');
  const clients = simulatedClients(createSimulatedAws(db, { throttling: false }));
  await clients.ecs.send(new CreateClusterCommand({ clusterName: 'demo' }));
  const cloud = new AwsCloud(clients, logger);
  await assert.rejects(cloud.setDesiredCount('demo', 'nope', 3), (error: Error) => {
    assert.equal(error.name, 'ServiceNotFoundException');
    assert.match(error.message, /ecs:UpdateService found no service demo\/nope/);
    return true;
  });
  await assert.rejects(
    cloud.readRuleWeights(
      'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/x/0123456789abcdef/0123456789abcdef/0123456789abcdef',
    ),
    (error: Error) => {
      assert.equal(error.name, 'RuleNotFoundException');
      assert.match(
        error.message,
        /elbv2:DescribeRules found no arn:aws:elasticloadbalancing:.*listener-rule\/app\/x\//,
      );
      return true;
    },
  );
});

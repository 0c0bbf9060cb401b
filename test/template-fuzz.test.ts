/**
 * The template parser, fuzzed: any text, any JSON, and the docs' example with random fields
 * replaced, removed or added. Whatever it is given, `parseTemplateText` either returns a template
 * Berth can register — the main container among its containers, every container's image,
 * environment and secrets held apart, a task definition that `registrationInput` builds — or
 * throws an InputError: one line, naming the flag it was given. Never another error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { registrationInput } from '../src/cloud/task-definition.ts';
import { InputError } from '../src/validation/input-error.ts';
import { parseTemplateText, type ParsedTemplate } from '../src/validation/task-definition.ts';
import { ROOT } from './support/cli.ts';

const RUNS = Number(process.env['BERTH_FUZZ_RUNS'] ?? 300);
const SEED = Number(process.env['BERTH_FUZZ_SEED'] ?? 20261207);
const FIELD = '--task-definition';

const EXAMPLE = JSON.parse(
  readFileSync(join(ROOT, 'examples', 'rails-with-nginx.json'), 'utf8'),
) as Record<string, unknown> & { containerDefinitions: Record<string, unknown>[] };

const TASK_FIELDS = [
  'cpu',
  'memory',
  'networkMode',
  'requiresCompatibilities',
  'containerDefinitions',
  'volumes',
  'family',
  'taskDefinitionArn',
  'revision',
];
const CONTAINER_FIELDS = [
  'name',
  'image',
  'essential',
  'portMappings',
  'environment',
  'secrets',
  'command',
  'healthCheck',
  'logConfiguration',
  'dependsOn',
];

/** A change to the example: a task or container field replaced by any JSON, or removed. */
const mutation = fc.oneof(
  fc.record({
    where: fc.constant('task' as const),
    field: fc.constantFrom(...TASK_FIELDS),
    value: fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
  }),
  fc.record({
    where: fc.constant('container' as const),
    index: fc.nat({ max: 2 }),
    field: fc.constantFrom(...CONTAINER_FIELDS),
    value: fc.option(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom('app', 'nginx', '', 'nginx:1.28', '1BAD', [{ name: 'A', value: 'x' }]),
        fc.constant([
          { name: 'A', value: '1' },
          { name: 'A', value: '2' },
        ]),
        fc.constant([{ containerPort: 3000 }, { containerPort: 70000 }]),
      ),
      { nil: undefined },
    ),
  }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutated(changes: Mutation[]): string {
  const template: Record<string, unknown> = structuredClone(EXAMPLE);
  for (const change of changes) {
    if (change.where === 'task') {
      template[change.field] = change.value;
      continue;
    }
    const containers = template['containerDefinitions'];
    if (!Array.isArray(containers)) continue;
    const container: unknown = containers[change.index];
    if (typeof container !== 'object' || container === null) continue;
    (container as Record<string, unknown>)[change.field] = change.value;
  }
  return JSON.stringify(template);
}

/** What holds of every template the parser accepts. */
function checkAccepted(parsed: ParsedTemplate): void {
  const names = parsed.template.containerDefinitions.map((container) => container.name);
  assert.ok(names.includes(parsed.mainContainer), 'the main container is one of them');
  assert.deepEqual(Object.keys(parsed.containers).sort(), [...names].sort());
  assert.equal(new Set(names).size, names.length, 'names are unique');
  for (const container of parsed.template.containerDefinitions) {
    for (const managed of ['image', 'environment', 'secrets']) {
      assert.equal(container[managed], undefined, `${managed} is held by the release`);
    }
  }
  assert.equal(parsed.template['family'], undefined);
  const input = registrationInput(
    {
      family: 'berth-web',
      template: parsed.template,
      containers: Object.fromEntries(
        Object.entries(parsed.containers).map(([name, c]) => [
          name,
          {
            image: c.image === '' ? 'nginx:1.27' : c.image,
            environment: c.environment,
            secrets: c.secrets,
          },
        ]),
      ),
      logGroup: '/berth/web',
      contentHash: 'h',
    },
    'us-east-1',
  );
  assert.equal(input.family, 'berth-web');
  assert.ok(input.containerDefinitions?.every((c) => c.logConfiguration !== undefined));
}

function checkOutcome(text: string): 'accepted' | 'refused' {
  try {
    checkAccepted(parseTemplateText(FIELD, text));
    return 'accepted';
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    assert.ok(error.field.startsWith(FIELD) || error.field.startsWith('--'), error.message);
    assert.doesNotMatch(error.message, /[\n\r\u2028\u2029]/, `one line: ${error.message}`);
    return 'refused';
  }
}

it('any text is a template or one line of bad input naming the flag', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 4 })), (text) => {
      checkOutcome(text);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

it('the example with fields replaced or removed is accepted or refused cleanly, and often each', () => {
  const seen = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (changes) => {
      seen[checkOutcome(mutated(changes))] += 1;
    }),
    { seed: SEED + 1, numRuns: RUNS },
  );
  assert.ok(seen.accepted > RUNS / 20, `some accepted: ${JSON.stringify(seen)}`);
  assert.ok(seen.refused > RUNS / 20, `some refused: ${JSON.stringify(seen)}`);
});

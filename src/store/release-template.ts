import { InputError } from '../validation/input-error.ts';
import type { ManagedContainer, ParsedTemplate } from '../validation/task-definition.ts';
import type { ReleaseSpec } from './releases.ts';

// Apart from services-write.ts, which imports Kysely: the CLI builds its flags with it before a
// command runs, and `berth --version` should not load the query builder.

/**
 * A release from a new template on top of `base`: the template's fields as written; each
 * container's image as the template gives it, else the one it runs now; its environment and
 * secrets those it has now (what `config set` made stays), with the keys the template adds.
 */
export function fromTemplate(parsed: ParsedTemplate, base: ReleaseSpec | undefined): ReleaseSpec {
  const current = (name: string): ManagedContainer | undefined =>
    base === undefined ? undefined : name === base.mainContainer ? base : base.sidecars[name];
  const merged = (name: string, written: ManagedContainer): ManagedContainer => {
    const now = current(name);
    if (now === undefined) return written;
    const image = written.image !== '' ? written : now;
    return {
      image: image.image,
      imageDigest: image.imageDigest,
      environment: { ...written.environment, ...now.environment },
      secrets: { ...written.secrets, ...now.secrets },
    };
  };
  const sidecars: Record<string, ManagedContainer> = {};
  let main: ManagedContainer | undefined;
  for (const [name, written] of Object.entries(parsed.containers)) {
    if (name === parsed.mainContainer) main = merged(name, written);
    else sidecars[name] = merged(name, written);
  }
  if (main === undefined || main.image === '') {
    throw new InputError(
      '--image',
      `the main container ${JSON.stringify(parsed.mainContainer)} has no image in the template; give one with --image`,
    );
  }
  return {
    template: parsed.template,
    mainContainer: parsed.mainContainer,
    sidecars,
    image: main.image,
    imageDigest: main.imageDigest,
    environment: main.environment,
    secrets: main.secrets,
    cpu: parsed.cpu,
    memory: parsed.memory,
    containerPort: parsed.containerPort,
    taskRoleArn: parsed.taskRoleArn,
    executionRoleArn: parsed.executionRoleArn,
  };
}

import { refuseDeletion, requestServiceDeletion } from '../../store/service-deletion.ts';
import { findService } from '../../store/services.ts';
import { parseServiceName } from '../../validation/fields.ts';
import { InputError } from '../../validation/input-error.ts';
import type { CliContext } from '../context.ts';

/**
 * `berth service delete NAME`: asks the workers to scale the service to 0 and remove its task
 * sets and ECS service; its releases, deployments and audit log stay. Asks first on a terminal;
 * elsewhere `--yes` says it.
 */
export async function serviceDelete(
  context: CliContext,
  rawName: string,
  flags: { yes?: boolean },
): Promise<number> {
  const name = parseServiceName('NAME', rawName);
  if (flags.yes !== true) {
    const confirm = context.io.confirm;
    if (confirm === undefined) {
      throw new InputError(
        '--yes',
        `deleting ${name} scales it to 0 and removes its task sets and ECS service; no terminal to ask, so say --yes`,
      );
    }
    // Read before asking, so that a mistyped name, or a deletion that would be refused, is told
    // at once and not after a "yes".
    await context.withDatabase(async (db) => {
      const service = await findService(db, name);
      if (service.delete_requested_at === null) await refuseDeletion(db, service);
    });
    const yes = await confirm(
      `delete service ${name}: scale it to 0, remove its task sets and its ECS service (its history stays)? [y/N] `,
    );
    if (!yes) {
      context.note(`${name} left as it was`);
      return 1;
    }
  }
  const { service, already } = await context.withDatabase((db) =>
    requestServiceDeletion(db, { actor: context.actor, name }),
  );
  context.print({
    json: {
      service: service.name,
      deleteRequestedAt: service.delete_requested_at?.toISOString() ?? null,
      deleteRequestedBy: service.delete_requested_by,
      already,
    },
    text: already
      ? `${name}: deletion was already asked for by ${service.delete_requested_by ?? 'someone'}; the workers are on it`
      : `${name}: deletion requested; the workers scale it to 0 and remove its task sets and ECS service (berth events ${name} tells when)`,
  });
  return 0;
}

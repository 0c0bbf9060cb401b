import { InputError } from '../validation/input-error.ts';
import type { Db } from './database.ts';
import { containerNames, specOf } from './releases.ts';
import { lockService } from './services.ts';
import { baseRelease, requestRelease, takeOver, writeOrDryRun } from './write-transaction.ts';
import type { Actor, DryRunnable, RequestedRelease } from './write-transaction.ts';

/** `berth config set` and `config unset`: a new release with the environment changed. */

export interface ConfigChange {
  set: Record<string, string>;
  secrets: Record<string, string>;
  unset: string[];
}

/** A new release with the same image and the environment changed, deployed like any other. */
export async function changeConfig(
  db: Db,
  request: Actor &
    DryRunnable & {
      name: string;
      change: ConfigChange;
      replace: boolean;
      /** `--container`: another container than the main one. */
      container?: string | undefined;
    },
): Promise<RequestedRelease> {
  return writeOrDryRun(db, request.dryRun, async (trx) => {
    const service = await lockService(trx, request.name);
    const replaced = await takeOver(trx, service, request);
    const spec = specOf(await baseRelease(trx, service, replaced));
    const container = request.container ?? spec.mainContainer;
    const sidecar = spec.sidecars[container];
    if (container !== spec.mainContainer && sidecar === undefined) {
      throw new InputError(
        '--container',
        `${JSON.stringify(container)} is not a container of ${service.name}; its containers: ${containerNames(spec).join(', ')}`,
      );
    }
    const base = sidecar ?? spec;
    const { set, secrets: secretRefs, unset } = request.change;
    for (const key of unset) {
      if (!(key in base.environment) && !(key in base.secrets)) {
        const known = [...Object.keys(base.environment), ...Object.keys(base.secrets)].sort();
        throw new InputError(
          'KEY',
          `${JSON.stringify(key)} is not set on ${service.name}; set keys: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        );
      }
    }
    // A key is either a plain value or a secret reference, never both: whatever is set last wins.
    const removedFromEnvironment = new Set([...unset, ...Object.keys(secretRefs)]);
    const removedFromSecrets = new Set([...unset, ...Object.keys(set)]);
    const environment = {
      ...without(base.environment, removedFromEnvironment),
      ...set,
    };
    const secrets = { ...without(base.secrets, removedFromSecrets), ...secretRefs };
    const { release, deployment } = await requestRelease(trx, service, replaced, {
      actor: request.actor,
      spec:
        sidecar === undefined
          ? { ...spec, environment, secrets }
          : {
              ...spec,
              sidecars: { ...spec.sidecars, [container]: { ...sidecar, environment, secrets } },
            },
      kind: 'config',
      message: null,
      field: 'KEY=VALUE',
    });
    return { service, release, deployment, replaced };
  });
}

function without(
  record: Record<string, string>,
  keys: ReadonlySet<string>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !keys.has(key)));
}

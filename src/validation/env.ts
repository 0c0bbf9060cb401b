import { SECRET_ARN_SHAPE, secretArnProblem } from './arn.ts';
import { InputError } from './input-error.ts';
import { quote } from './quote.ts';

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_KEY = 255;
const MAX_VALUE = 32768;

/** An environment variable name: a letter or `_`, then letters, digits and `_`; at most 255. */
export function parseEnvKey(field: string, raw: string): string {
  if (!ENV_KEY.test(raw) || raw.length > MAX_KEY) {
    throw new InputError(
      field,
      `${quote(raw)} is not a valid environment variable name; expected a letter or _ followed by letters, digits and _, at most ${MAX_KEY} characters, e.g. LOG_LEVEL`,
    );
  }
  return raw;
}

/** `KEY=VALUE`, split at the first `=`; the value may be empty and may contain `=`. */
export function parseEnvAssignment(field: string, raw: string): [key: string, value: string] {
  const eq = raw.indexOf('=');
  if (eq === -1) {
    throw new InputError(
      field,
      `${quote(raw)} has no "="; expected KEY=VALUE, e.g. LOG_LEVEL=debug`,
    );
  }
  const key = parseEnvKey(field, raw.slice(0, eq));
  const value = raw.slice(eq + 1);
  if (value.length > MAX_VALUE) {
    throw new InputError(
      field,
      `the value of ${key} in ${quote(raw)} is ${value.length} characters; at most ${MAX_VALUE} are allowed`,
    );
  }
  return [key, value];
}

const SECRET_EXAMPLE =
  'DB_PASSWORD=arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';

/**
 * `KEY=ARN`, where the ARN names a Secrets Manager secret or SSM parameter. A user may paste the
 * secret itself by mistake, so messages quote the input only where it is shaped like an ARN;
 * anything else is described but never shown.
 */
export function parseSecretAssignment(field: string, raw: string): [key: string, arn: string] {
  const eq = raw.indexOf('=');
  if (eq === -1) {
    const what = raw.startsWith('arn:')
      ? quote(raw)
      : 'the value (not shown, in case it is a secret)';
    throw new InputError(field, `${what} has no "="; expected KEY=ARN, e.g. ${SECRET_EXAMPLE}`);
  }
  const key = parseEnvKey(field, raw.slice(0, eq));
  const arn = raw.slice(eq + 1);
  const problem = secretArnProblem(arn);
  if (problem !== undefined) {
    const what = arn.startsWith('arn:')
      ? quote(arn)
      : 'the value (not shown, in case it is the secret itself)';
    throw new InputError(
      field,
      `for ${key}, ${what} is not a Secrets Manager or SSM parameter ARN (${problem}); expected ${key}=<ARN> with the ARN ${SECRET_ARN_SHAPE}`,
    );
  }
  return [key, arn];
}

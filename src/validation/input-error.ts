/**
 * Bad input from a user: the CLI prints `message` on one line and exits 2, and nothing is
 * written. `field` names what was wrong (a flag such as `--image`, or an argument such as
 * `NAME`) so that scripts reading `--json` output can point at it.
 */
export class InputError extends Error {
  readonly field: string;

  constructor(field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.name = 'InputError';
    this.field = field;
  }
}

import { readFileSync } from 'node:fs';
import type { CommanderError, Command, Option } from 'commander';
import { InputError } from '../validation/input-error.ts';
import { quote } from '../validation/quote.ts';

/*
 * The rules every command line obeys before any command runs: a flag is given at most once
 * (unless it is meant to repeat), and what commander refuses is told in the same one-line
 * `FIELD: message` form as Berth's own validation, with hostile text quoted onto one line.
 */

/** Berth's version, from package.json: what `berth --version` prints. */
export const BERTH_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/**
 * Accumulates a repeatable flag's values (`--secret A=… --secret B=…`). Flags parsed with it,
 * and variadic ones, may be given more than once; any other flag given twice is bad input.
 */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Whether a flag may be given more than once. */
export function isRepeatable(option: Option): boolean {
  return option.variadic || option.parseArg === collect;
}

/** The command and its subcommands, depth first. */
export function commandTree(root: Command): Command[] {
  return [root, ...root.commands.flatMap((sub) => commandTree(sub))];
}

/**
 * Makes every non-repeatable flag of the tree bad input when given twice, instead of commander's
 * last-wins. `--public-ip` and `--no-public-ip` set one setting, so giving both counts as twice.
 */
export function refuseRepeatedFlags(root: Command): void {
  for (const command of commandTree(root)) {
    const seen = new Map<string, string>();
    for (const option of command.options) {
      if (isRepeatable(option)) continue;
      const flag = option.long ?? option.short ?? option.name();
      const setting = option.attributeName();
      command.on(`option:${option.name()}`, () => {
        const earlier = seen.get(setting);
        if (earlier === undefined) {
          seen.set(setting, flag);
          return;
        }
        const field = (option.negate ? earlier : flag).replace(/^--no-/, '--');
        throw new InputError(
          field,
          earlier === flag
            ? 'given twice; give it once'
            : `given as both ${earlier} and ${flag}; give one of them`,
        );
      });
    }
  }
}

/** Commander's refusals that are help or the version, not errors. */
export function isHelpOrVersion(error: CommanderError): boolean {
  return ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code);
}

/** A flag or argument name as commander shows it (`'--image <image>'`, `'NAME'`) → `--image`. */
function fieldOf(quoted: string | undefined, fallback: string): string {
  const name = quoted?.split(/[ ,|]/)[0];
  return name !== undefined && /^(--?[A-Za-z0-9][A-Za-z0-9-]*|[A-Z][A-Z_=.]*)$/.test(name)
    ? name
    : fallback;
}

/**
 * Commander's refusal as an InputError: the field it is about, and what is valid, on one line.
 * `usage` is the command line that was being parsed (`berth scale`), for pointing at its help.
 */
export function commanderInputError(error: CommanderError, usage: string): InputError {
  const text = error.message.replace(/^error: /, '');
  const suggestion = /\(Did you mean (.+)\?\)\s*$/.exec(text)?.[1];
  const didYouMean = suggestion !== undefined ? `; did you mean ${suggestion}?` : '';
  const help = `${usage} --help lists what it takes`;
  switch (error.code) {
    case 'commander.unknownOption': {
      const flag = /^unknown option '(.*)'/s.exec(text)?.[1] ?? '';
      // The token as typed is the field only when it is a whole flag (`--imgae`, not `--image `).
      const field = /^--?[A-Za-z0-9][A-Za-z0-9-]*$/.test(flag) ? flag : 'OPTION';
      return new InputError(
        field,
        `${field === flag ? 'is not' : `${quote(flag)} is not`} an option of ${usage}${didYouMean || `; ${help}`}`,
        { cause: error },
      );
    }
    case 'commander.unknownCommand': {
      const name = /^unknown command '(.*)'/s.exec(text)?.[1] ?? '';
      return new InputError(
        'COMMAND',
        `${quote(name)} is not a command of ${usage}${didYouMean || `; ${help}`}`,
        { cause: error },
      );
    }
    case 'commander.missingMandatoryOptionValue':
      return new InputError(
        fieldOf(/^required option '([^']*)'/.exec(text)?.[1], 'OPTION'),
        `is required; ${help}`,
        { cause: error },
      );
    case 'commander.optionMissingArgument':
      return new InputError(
        fieldOf(/^option '([^']*)'/.exec(text)?.[1], 'OPTION'),
        `needs a value; ${help}`,
        { cause: error },
      );
    case 'commander.missingArgument':
      return new InputError(
        fieldOf(/^missing required argument '([^']*)'/.exec(text)?.[1], 'ARGUMENT'),
        `is required; ${help}`,
        { cause: error },
      );
    case 'commander.excessArguments': {
      const counts = /Expected (\d+) arguments? but got (\d+)/.exec(text);
      return new InputError(
        'ARGUMENTS',
        `${usage} takes ${counts?.[1] ?? 'fewer'} ${counts?.[1] === '1' ? 'argument' : 'arguments'}, got ${counts?.[2] ?? 'more'}; ${help}`,
        { cause: error },
      );
    }
    default:
      return new InputError('INPUT', quote(text.split('\n')[0] ?? text).slice(1, -1), {
        cause: error,
      });
  }
}

/** `berth service create`: a command's name as a person types it. */
export function usageOf(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at !== null; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/**
 * Applies the input rules to the whole program, once every command and flag is defined (so that
 * commands added anywhere are covered): repeated flags refused, text no field takes refused,
 * and each command's parse errors thrown as InputErrors naming the field. Help and the version
 * stay commander's own.
 */
export function applyInputRules(program: Command): void {
  refuseRepeatedFlags(program);
  program.hook('preAction', (_program, action) => {
    refuseUnstorableText(action);
  });
  for (const command of commandTree(program)) {
    command.exitOverride((error) => {
      throw isHelpOrVersion(error) ? error : commanderInputError(error, usageOf(command));
    });
  }
}

/** Text no field takes: NUL (Postgres cannot store it) and unpaired UTF-16 surrogates. */
const unstorable = (text: string): boolean => text.includes('\u0000') || /\p{Cs}/u.test(text);

/**
 * Refuses, before any command runs, an argument or flag value holding text that no field takes
 * and Postgres cannot store (NUL, a lone surrogate) — so that a field whose own rules allow any
 * text (a message, an environment value) is bad input here, not a database error later.
 */
export function refuseUnstorableText(command: Command): void {
  const values: [field: string, value: unknown][] = [
    ...command.options.map((option): [string, unknown] => [
      (option.long ?? option.name()).replace(/^--no-/, '--'),
      command.getOptionValue(option.attributeName()),
    ]),
    ...command.registeredArguments.map((argument, i): [string, unknown] => [
      argument.name(),
      command.processedArgs[i],
    ]),
  ];
  for (const [field, value] of values) {
    for (const text of Array.isArray(value) ? value : [value]) {
      if (typeof text === 'string' && unstorable(text)) {
        throw new InputError(
          field,
          `${quote(text)} contains a NUL character or an unpaired surrogate, which no field accepts`,
        );
      }
    }
  }
}

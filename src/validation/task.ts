import type { LaunchType } from '../domain.ts';
import { InputError } from './input-error.ts';
import { oneOf, quote } from './quote.ts';

/** `FARGATE` or `EC2`, in any case; returned in upper case. */
export function parseLaunchType(field: string, raw: string): LaunchType {
  const upper = raw.toUpperCase();
  if (upper === 'FARGATE' || upper === 'EC2') return upper;
  throw new InputError(field, `${quote(raw)} is not a launch type; expected FARGATE or EC2`);
}

interface MemoryRange {
  readonly min: number;
  readonly max: number;
  readonly step: number;
}

/** AWS's table of Fargate task sizes: CPU units → memory in MiB. */
const FARGATE_SIZES: ReadonlyMap<number, readonly number[] | MemoryRange> = new Map<
  number,
  readonly number[] | MemoryRange
>([
  [256, [512, 1024, 2048]],
  [512, { min: 1024, max: 4096, step: 1024 }],
  [1024, { min: 2048, max: 8192, step: 1024 }],
  [2048, { min: 4096, max: 16384, step: 1024 }],
  [4096, { min: 8192, max: 30720, step: 1024 }],
  [8192, { min: 16384, max: 61440, step: 4096 }],
  [16384, { min: 32768, max: 122880, step: 8192 }],
]);

const EC2_CPU = { min: 128, max: 196608 };
const EC2_MEMORY = { min: 6, max: 1048576 };

function fits(memory: number, sizes: readonly number[] | MemoryRange): boolean {
  if (!('step' in sizes)) return sizes.includes(memory);
  return memory >= sizes.min && memory <= sizes.max && (memory - sizes.min) % sizes.step === 0;
}

function describe(sizes: readonly number[] | MemoryRange): string {
  if (!('step' in sizes)) return `${oneOf(sizes)} MiB`;
  return `${sizes.min} to ${sizes.max} MiB in steps of ${sizes.step}`;
}

/**
 * Checks a task's CPU units and memory (MiB) against what the launch type allows: for Fargate,
 * AWS's table of combinations; for EC2, CPU 128 to 196608 units and memory 6 to 1048576 MiB.
 * Throws an InputError naming `--cpu` or `--memory`.
 */
export function checkTaskSize(
  launchType: 'FARGATE' | 'EC2',
  cpu: number,
  memory: number,
  fields: { cpu: string; memory: string } = { cpu: '--cpu', memory: '--memory' },
): void {
  if (launchType === 'FARGATE') {
    const sizes = FARGATE_SIZES.get(cpu);
    if (sizes === undefined) {
      throw new InputError(
        fields.cpu,
        `${JSON.stringify(cpu)} is not a Fargate CPU size; expected ${oneOf([...FARGATE_SIZES.keys()])} CPU units (1024 = 1 vCPU)`,
      );
    }
    if (!fits(memory, sizes)) {
      throw new InputError(
        fields.memory,
        `${JSON.stringify(memory)} MiB is not valid with ${cpu} CPU units on Fargate; expected ${describe(sizes)}`,
      );
    }
    return;
  }
  if (!(Number.isInteger(cpu) && cpu >= EC2_CPU.min && cpu <= EC2_CPU.max)) {
    throw new InputError(
      fields.cpu,
      `${JSON.stringify(cpu)} is not a CPU size for EC2; expected a whole number of CPU units from ${EC2_CPU.min} to ${EC2_CPU.max} (1024 = 1 vCPU)`,
    );
  }
  if (!(Number.isInteger(memory) && memory >= EC2_MEMORY.min && memory <= EC2_MEMORY.max)) {
    throw new InputError(
      fields.memory,
      `${JSON.stringify(memory)} MiB is not a memory size for EC2; expected a whole number of MiB from ${EC2_MEMORY.min} to ${EC2_MEMORY.max}`,
    );
  }
}

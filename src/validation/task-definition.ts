import { parseEnvKey } from './env.ts';
import { parseImageRef } from './image.ts';
import { InputError } from './input-error.ts';
import { quote } from './quote.ts';
import type { LaunchType } from '../domain.ts';
import { checkTaskSize } from './task.ts';

/**
 * A team's own ECS task definition, in the shape `aws ecs describe-task-definition --query
 * taskDefinition` prints and `register-task-definition --cli-input-json` takes, kept as written
 * except for what Berth manages: the family, and each container's image, environment and
 * secrets (held beside it in the release). Fields Berth does not know pass through untouched.
 */
export interface TaskDefinitionTemplate {
  containerDefinitions: ContainerTemplate[];
  [field: string]: unknown;
}

/** One container of a template; `name` is how Berth and ECS refer to it. */
export interface ContainerTemplate {
  name: string;
  [field: string]: unknown;
}

/** What Berth manages of one container: its image (pinned once resolved), environment, secrets. */
export interface ManagedContainer {
  image: string;
  imageDigest: string | null;
  environment: Record<string, string>;
  /** name → Secrets Manager / SSM ARN (`valueFrom`), never a value. */
  secrets: Record<string, string>;
}

/** AWS refuses a task definition larger than this (the whole RegisterTaskDefinition input). */
export const MAX_TASK_DEFINITION_BYTES = 64 * 1024;

/** Fields ECS sets on a registered revision: read back, never registered. */
const READ_ONLY_FIELDS = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  // Berth's: `berth-NAME`.
  'family',
] as const;

const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

const TASK_DEFINITION_REFERENCE =
  /^(?:arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition\/)?[A-Za-z0-9_-]{1,255}(?::[1-9]\d{0,8})?$/;

/** `--from-task-definition`: a task definition's ARN, `family` or `family:revision`. */
export function parseTaskDefinitionReference(field: string, raw: string): string {
  if (!TASK_DEFINITION_REFERENCE.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a task definition; expected its ARN, a family (its latest revision) or family:revision, e.g. rails-web:42`,
    );
  }
  return raw;
}

/** A container name as ECS takes it (`--container`, `--image NAME=IMG`). */
export function parseContainerName(field: string, raw: string): string {
  if (!CONTAINER_NAME.test(raw)) {
    throw new InputError(
      field,
      `${quote(raw)} is not a container name; expected 1 to 255 letters, digits, - and _`,
    );
  }
  return raw;
}

/** A template read from a file or adopted from ECS, split into what Berth keeps and manages. */
export interface ParsedTemplate {
  /** The template without family, read-only fields, images, environment or secrets. */
  template: TaskDefinitionTemplate;
  mainContainer: string;
  /** Every container's image (as written; may be empty for the main one), environment, secrets. */
  containers: Record<string, ManagedContainer>;
  launchType: LaunchType;
  /** The port the load balancer sends traffic to, mapped by the main container; null for a worker. */
  containerPort: number | null;
  /** Task-level CPU units and memory (MiB); 0 when the template sets none (EC2 only). */
  cpu: number;
  memory: number;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
}

export interface TemplateChoices {
  /** `--container`: the main container by name. */
  container?: string | undefined;
  /** `--port`: the main container is the one mapping it. */
  port?: number | undefined;
  /** `--launch-type`, when given. */
  launchType?: LaunchType | undefined;
  /** A worker service (`--no-load-balancer`): nothing routes to a port, none is needed. */
  noLoadBalancer?: boolean | undefined;
}

/**
 * Reads a template from the text of a JSON file (`field` names the flag, e.g.
 * `--task-definition`). Throws an InputError naming the field for anything AWS would refuse or
 * Berth cannot run: not JSON, over 64 KiB, no containers, duplicate names, an unknown
 * `--container`, a port the main container does not map, Fargate sizes or network modes AWS
 * refuses, environment names ECS refuses.
 */
export function parseTemplateText(
  field: string,
  text: string,
  choices: TemplateChoices = {},
): ParsedTemplate {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_TASK_DEFINITION_BYTES) {
    throw new InputError(
      field,
      `the file is ${bytes} bytes; AWS refuses a task definition over ${MAX_TASK_DEFINITION_BYTES} bytes (64 KiB)`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the error: kept on one line.
    const reason = (error as Error).message.replace(/[\n\r\u2028\u2029]/g, ' ');
    throw new InputError(field, `not JSON: ${reason}`, { cause: error });
  }
  return parseTemplate(field, value, choices);
}

/** As `parseTemplateText`, from a value already parsed (e.g. DescribeTaskDefinition's answer). */
export function parseTemplate(
  field: string,
  value: unknown,
  choices: TemplateChoices = {},
): ParsedTemplate {
  if (!isObject(value)) {
    throw new InputError(field, 'expected a JSON object with containerDefinitions');
  }
  const readOnly = new Set<string>(READ_ONLY_FIELDS);
  const template: Record<string, unknown> = Object.fromEntries(
    Object.entries(value).filter(([key]) => !readOnly.has(key)),
  );
  const rawContainers = template.containerDefinitions;
  if (!Array.isArray(rawContainers) || rawContainers.length === 0) {
    throw new InputError(`${field} containerDefinitions`, 'the template has no containers');
  }
  const containers: Record<string, ManagedContainer> = {};
  const definitions: ContainerTemplate[] = [];
  rawContainers.forEach((raw: unknown, index) => {
    const where = `${field} containerDefinitions[${index}]`;
    if (!isObject(raw)) throw new InputError(where, 'expected an object');
    const name = raw.name;
    if (typeof name !== 'string' || !CONTAINER_NAME.test(name)) {
      throw new InputError(
        `${where}.name`,
        `${typeof name === 'string' ? quote(name) : 'missing'}: a container needs a name of 1 to 255 letters, digits, - and _`,
      );
    }
    if (name in containers) {
      throw new InputError(`${where}.name`, `two containers are named ${quote(name)}`);
    }
    const { image, environment, secrets, ...rest } = raw;
    containers[name] = {
      image: parseContainerImage(`${where}.image`, image),
      imageDigest: null,
      environment: parseEnvironment(`${where}.environment`, environment),
      secrets: parseSecrets(`${where}.secrets`, secrets),
    };
    checkPortMappings(`${where}.portMappings`, rest.portMappings);
    definitions.push({ ...rest, name });
  });
  template.containerDefinitions = definitions;

  const launchType = launchTypeOf(field, template, choices.launchType);
  // As written when it names the launch type (launchTypeOf checked it does); else Berth's.
  if (!Array.isArray(template.requiresCompatibilities)) {
    template.requiresCompatibilities = [launchType];
  }
  if (template.networkMode === undefined) template.networkMode = 'awsvpc';
  if (launchType === 'FARGATE' && template.networkMode !== 'awsvpc') {
    throw new InputError(
      `${field} networkMode`,
      `${quote(String(template.networkMode))} is not possible on Fargate; Fargate tasks use awsvpc`,
    );
  }
  const cpu = taskSize(`${field} cpu`, template.cpu, 'vCPU');
  const memory = taskSize(`${field} memory`, template.memory, 'GB');
  if (launchType === 'FARGATE') {
    if (cpu === 0 || memory === 0) {
      throw new InputError(
        `${field} ${cpu === 0 ? 'cpu' : 'memory'}`,
        'Fargate needs task-level cpu and memory, e.g. "cpu": "512", "memory": "1024"',
      );
    }
    checkTaskSize('FARGATE', cpu, memory, { cpu: `${field} cpu`, memory: `${field} memory` });
  }

  const mainContainer = chooseMainContainer(field, definitions, choices);
  const main = definitions.find((container) => container.name === mainContainer);
  const ports = portsOf(main?.portMappings);
  let containerPort: number | null;
  if (choices.noLoadBalancer === true) {
    containerPort = null;
  } else if (choices.port !== undefined) {
    if (!ports.includes(choices.port)) {
      throw new InputError(
        '--port',
        `${choices.port} is not mapped by the main container ${quote(mainContainer)} (it maps ${ports.length > 0 ? ports.join(', ') : 'no port'}); add it to its portMappings or give the port it maps`,
      );
    }
    containerPort = choices.port;
  } else {
    const first = ports[0];
    if (first === undefined) {
      throw new InputError(
        '--port',
        `the main container ${quote(mainContainer)} maps no port; add a portMappings entry for the port the load balancer sends traffic to`,
      );
    }
    containerPort = first;
  }
  for (const [name, container] of Object.entries(containers)) {
    if (name !== mainContainer && container.image === '') {
      throw new InputError(
        `${field} containerDefinitions[${definitions.findIndex((c) => c.name === name)}].image`,
        `container ${quote(name)} has no image`,
      );
    }
  }
  return {
    template: template as TaskDefinitionTemplate,
    mainContainer,
    containers,
    launchType,
    containerPort,
    cpu,
    memory,
    taskRoleArn: optionalString(template.taskRoleArn),
    executionRoleArn: optionalString(template.executionRoleArn),
  };
}

/**
 * The main container: `--container`, else the one mapping `--port`, else the only essential one.
 * Ambiguity is bad input naming the candidates.
 */
function chooseMainContainer(
  field: string,
  containers: readonly ContainerTemplate[],
  choices: TemplateChoices,
): string {
  const names = containers.map((container) => container.name);
  if (choices.container !== undefined) {
    if (!names.includes(choices.container)) {
      throw new InputError(
        '--container',
        `${quote(choices.container)} is not a container of the template; its containers: ${names.join(', ')}`,
      );
    }
    return choices.container;
  }
  if (choices.port !== undefined) {
    const port = choices.port;
    const mapping = containers.filter((container) =>
      portsOf(container.portMappings).includes(port),
    );
    const only = mapping[0];
    if (mapping.length === 1 && only !== undefined) return only.name;
    if (mapping.length > 1) {
      throw new InputError(
        '--container',
        `containers ${mapping.map((c) => c.name).join(', ')} all map port ${port}; say which one the load balancer routes to with --container`,
      );
    }
  }
  const essential = containers.filter((container) => container.essential !== false);
  const only = essential[0];
  if (essential.length === 1 && only !== undefined) return only.name;
  throw new InputError(
    '--container',
    `the template has ${essential.length === 0 ? 'no essential container' : `${essential.length} essential containers (${essential.map((c) => c.name).join(', ')})`}; say which one the load balancer routes to and --image sets with --container`,
  );
}

function launchTypeOf(
  field: string,
  template: Record<string, unknown>,
  given: LaunchType | undefined,
): LaunchType {
  const required = template.requiresCompatibilities;
  const listed = Array.isArray(required)
    ? required.filter((entry): entry is LaunchType => entry === 'FARGATE' || entry === 'EC2')
    : [];
  if (required !== undefined && listed.length === 0) {
    throw new InputError(
      `${field} requiresCompatibilities`,
      'expected a list naming FARGATE or EC2, e.g. ["FARGATE"], or leave it out',
    );
  }
  if (given !== undefined) {
    if (listed.length > 0 && !listed.includes(given)) {
      throw new InputError(
        '--launch-type',
        `${given} is not among the template's requiresCompatibilities (${listed.join(', ')})`,
      );
    }
    return given;
  }
  return listed.includes('FARGATE') || listed.length === 0 ? 'FARGATE' : 'EC2';
}

/** A task size as ECS writes it: `"512"`, `512`, `"0.5 vCPU"` or `"1 GB"`; 0 when absent. */
function taskSize(field: string, raw: unknown, unit: 'vCPU' | 'GB'): number {
  if (raw === undefined || raw === null) return 0;
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new InputError(field, `expected a string such as "1024" or "1 ${unit}"`);
  }
  const text = String(raw).trim();
  const match = new RegExp(`^(\\d+(?:\\.\\d+)?)\\s*(${unit})?$`, 'i').exec(text);
  const amount = match?.[1];
  if (match === null || amount === undefined) {
    throw new InputError(
      field,
      `${quote(text)} is not a size; expected e.g. "1024" or "1 ${unit}"`,
    );
  }
  const number = Number(amount) * (match[2] !== undefined ? 1024 : 1);
  if (!Number.isInteger(number)) {
    throw new InputError(field, `${quote(text)} is not a whole number of units`);
  }
  return number;
}

function parseContainerImage(field: string, raw: unknown): string {
  if (raw === undefined || raw === null || raw === '') return '';
  if (typeof raw !== 'string') throw new InputError(field, 'expected a string');
  return parseImageRef(field, raw).reference;
}

function parseEnvironment(field: string, raw: unknown): Record<string, string> {
  const entries = pairs(field, raw, 'value');
  return Object.fromEntries(entries);
}

function parseSecrets(field: string, raw: unknown): Record<string, string> {
  return Object.fromEntries(pairs(field, raw, 'valueFrom'));
}

/** `[{ name, value }]` (or `valueFrom`): names ECS accepts, each once. */
function pairs(field: string, raw: unknown, valueField: 'value' | 'valueFrom'): [string, string][] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw))
    throw new InputError(field, `expected a list of { name, ${valueField} }`);
  const seen = new Set<string>();
  return raw.map((entry: unknown, index): [string, string] => {
    const where = `${field}[${index}]`;
    if (!isObject(entry) || typeof entry.name !== 'string') {
      throw new InputError(where, `expected { "name": …, "${valueField}": … }`);
    }
    const name = parseEnvKey(`${where}.name`, entry.name);
    if (seen.has(name)) throw new InputError(`${where}.name`, `${name} is given twice`);
    seen.add(name);
    const value = entry[valueField];
    if (typeof value !== 'string') {
      throw new InputError(`${where}.${valueField}`, `expected a string for ${name}`);
    }
    return [name, value];
  });
}

function checkPortMappings(field: string, raw: unknown): void {
  if (raw === undefined) return;
  if (!Array.isArray(raw)) throw new InputError(field, 'expected a list of { containerPort }');
  raw.forEach((mapping: unknown, index) => {
    const port = isObject(mapping) ? mapping.containerPort : undefined;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InputError(`${field}[${index}].containerPort`, 'expected a port from 1 to 65535');
    }
  });
}

function portsOf(raw: unknown): number[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((mapping: unknown) =>
    isObject(mapping) && typeof mapping.containerPort === 'number' ? [mapping.containerPort] : [],
  );
}

function optionalString(raw: unknown): string | null {
  return typeof raw === 'string' && raw !== '' ? raw : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The one-container template flags build (`--image`, `--port`, `--cpu`, `--memory`, roles): what
 * every service had before templates.
 */
export function flagTemplate(options: {
  container: string;
  /** Null for a worker: the container maps no port. */
  port: number | null;
  cpu: number;
  memory: number;
  launchType: LaunchType;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
}): TaskDefinitionTemplate {
  return {
    requiresCompatibilities: [options.launchType],
    networkMode: 'awsvpc',
    cpu: String(options.cpu),
    memory: String(options.memory),
    ...(options.taskRoleArn !== null ? { taskRoleArn: options.taskRoleArn } : {}),
    ...(options.executionRoleArn !== null ? { executionRoleArn: options.executionRoleArn } : {}),
    containerDefinitions: [
      {
        name: options.container,
        essential: true,
        ...(options.port !== null
          ? { portMappings: [{ containerPort: options.port, protocol: 'tcp' }] }
          : {}),
        // The task's memory as the container's hard limit too: valid on Fargate and EC2, and
        // emulators such as moto require it.
        memory: options.memory,
      },
    ],
  };
}

/** The task-level settings flags may change, beside the template they are written into. */
export interface TaskSettings {
  template: TaskDefinitionTemplate;
  mainContainer: string;
  cpu: number;
  memory: number;
  /** Null for a worker's release: its ports are left as the template has them. */
  containerPort: number | null;
  taskRoleArn: string | null;
  executionRoleArn: string | null;
}

/**
 * The template with the release's task settings written in: `--cpu`, `--memory` and the roles at
 * task level (a main container whose hard memory limit was the task's follows it), and `--port`
 * mapped by the main container (replacing its only mapping; a container mapping several ports
 * must already map it).
 */
export function withTaskSettings(settings: TaskSettings): TaskDefinitionTemplate {
  const template: TaskDefinitionTemplate = { ...settings.template };
  const previousMemory = Number(template.memory);
  setOrDelete(template, 'cpu', settings.cpu > 0 ? String(settings.cpu) : undefined);
  setOrDelete(template, 'memory', settings.memory > 0 ? String(settings.memory) : undefined);
  setOrDelete(template, 'taskRoleArn', settings.taskRoleArn ?? undefined);
  setOrDelete(template, 'executionRoleArn', settings.executionRoleArn ?? undefined);
  template.containerDefinitions = template.containerDefinitions.map((container) => {
    if (container.name !== settings.mainContainer) return container;
    const main: ContainerTemplate = { ...container };
    if (main.memory === previousMemory && settings.memory > 0) main.memory = settings.memory;
    const ports = portsOf(main.portMappings);
    if (settings.containerPort !== null && !ports.includes(settings.containerPort)) {
      if (ports.length > 1) {
        throw new InputError(
          '--port',
          `${settings.containerPort} is not mapped by the main container ${quote(main.name)} (it maps ${ports.join(', ')})`,
        );
      }
      main.portMappings = [{ containerPort: settings.containerPort, protocol: 'tcp' }];
    }
    return main;
  });
  return template;
}

function setOrDelete(
  record: Record<string, unknown>,
  key: 'cpu' | 'memory' | 'taskRoleArn' | 'executionRoleArn',
  value: unknown,
): void {
  if (value === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- one of four named fields
    delete record[key];
  } else record[key] = value;
}

/** JSON with every object's keys sorted: equal content, equal text (for content hashes). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    isObject(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** What the awslogs options Berth adds to a container without logging take, at most. */
const DEFAULT_LOGS_BYTES = 320;

/**
 * The size of the task definition a release would register, as AWS counts it (the request's
 * JSON): the template, every container's image, environment and secrets, and the default log
 * configuration. Over 64 KiB, RegisterTaskDefinition would fail on AWS, so the release is
 * refused first: an InputError naming `field`.
 */
export function checkRegistrationSize(
  field: string,
  template: TaskDefinitionTemplate,
  containers: Record<string, ManagedContainer>,
): void {
  let withoutLogs = 0;
  const definitions = template.containerDefinitions.map((container) => {
    const managed = containers[container.name];
    if (container.logConfiguration === undefined) withoutLogs += 1;
    return {
      ...container,
      image: managed?.image ?? '',
      environment: Object.entries(managed?.environment ?? {}).map(([name, value]) => ({
        name,
        value,
      })),
      secrets: Object.entries(managed?.secrets ?? {}).map(([name, valueFrom]) => ({
        name,
        valueFrom,
      })),
    };
  });
  const bytes =
    Buffer.byteLength(JSON.stringify({ ...template, containerDefinitions: definitions }), 'utf8') +
    withoutLogs * DEFAULT_LOGS_BYTES;
  if (bytes > MAX_TASK_DEFINITION_BYTES) {
    const environmentBytes = Object.values(containers).reduce(
      (sum, container) => sum + Buffer.byteLength(JSON.stringify(container.environment), 'utf8'),
      0,
    );
    throw new InputError(
      field,
      `the task definition of this release would be ${bytes} bytes (environment ${environmentBytes}); AWS refuses one over ${MAX_TASK_DEFINITION_BYTES} bytes (64 KiB): move large values to secrets or files`,
    );
  }
}

/**
 * What the simulated AWS's call log keeps of a write: the fields that name what it acted on,
 * never the task definition's environment (a cloud's log is read by more people than its API).
 */

/** One write the simulated AWS answered, in the order it took effect. */
export interface JournalEntry {
  seq: number;
  at: Date;
  api: string;
  /** `CreateTaskSet`, `ModifyRule`, … */
  operation: string;
  /** The request's identifying fields (`cluster`, `service`, `family`, `clientToken`, …). */
  request: Record<string, unknown>;
  /** The ARNs the answer names, in the order found. */
  arns: string[];
}

/** Request fields that say which resource a write acted on, and with which idempotency token. */
const NAMING_FIELDS = [
  'cluster',
  'service',
  'serviceName',
  'family',
  'taskSet',
  'taskDefinition',
  'primaryTaskSet',
  'clientToken',
  'startedBy',
  'task',
  'RuleArn',
  'TargetGroupArn',
  'repositoryName',
  'imageTag',
  'AlarmName',
  'StateValue',
] as const;

/** Reads, which the journal leaves out: only writes change the cloud. */
export function isWrite(operation: string): boolean {
  return !/^(Describe|Get|List)/.test(operation);
}

/** The naming fields of a request, and its tags (the content hash of a task definition). */
export function journalRequest(input: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const field of NAMING_FIELDS) {
    if (typeof input[field] === 'string') kept[field] = input[field];
  }
  if (Array.isArray(input['tags'])) kept['tags'] = input['tags'];
  return kept;
}

/** The keys that name what a create made, before the ARNs it merely mentions. */
const MADE_KEYS = ['taskSetArn', 'taskArn', 'taskDefinitionArn', 'serviceArn'];

/**
 * Every ARN in an answer, at most three levels down, without repeats; the resource a create
 * made first (a replayed answer comes back from storage with its keys in another order).
 */
export function journalArns(output: unknown): string[] {
  const found: { key: string; arn: string }[] = [];
  const walk = (value: unknown, depth: number) => {
    if (depth > 3 || value === null || typeof value !== 'object') return;
    for (const [key, member] of Object.entries(value)) {
      if (typeof member === 'string' && /arn$/i.test(key) && member.startsWith('arn:')) {
        found.push({ key, arn: member });
      } else if (typeof member === 'object') {
        walk(member, depth + 1);
      }
    }
  };
  walk(output, 0);
  const rank = (key: string) => {
    const index = MADE_KEYS.indexOf(key);
    return index === -1 ? MADE_KEYS.length : index;
  };
  const ordered = found.sort((a, b) => rank(a.key) - rank(b.key)).map((entry) => entry.arn);
  return [...new Set(ordered)];
}

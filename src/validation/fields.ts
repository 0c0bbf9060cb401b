/**
 * Parsers for everything a user types into Berth's CLI. Each takes the flag or argument name as
 * the user typed it (`--image`, `NAME`) and the raw text, and returns the parsed value or throws
 * an InputError whose one-line message says what was wrong and what would be valid. Pure: no
 * I/O, no dependencies beyond Node.
 */
export { InputError } from './input-error.ts';
export {
  parseClusterName,
  parseNewServiceName,
  parseServiceName,
  taskDefinitionFamily,
} from './names.ts';
export { parseImageRef } from './image.ts';
export type { ImageRef } from './image.ts';
export { parseEnvAssignment, parseEnvKey, parseSecretAssignment } from './env.ts';
export {
  arnParts,
  parseListenerRuleArn,
  parseRoleArn,
  parseSecretArn,
  parseTargetGroupArn,
  parseTargetGroupPair,
} from './arn.ts';
export type { ArnParts } from './arn.ts';
export { parseHealthPath, parsePort, parseSecurityGroupIds, parseSubnetIds } from './network.ts';
export {
  formatDuration,
  parseConfidence,
  parseCount,
  parseDuration,
  parseLatency,
  parseRate,
  parseReleaseVersion,
  parseSteps,
} from './numbers.ts';
export { checkTaskSize, parseLaunchType } from './task.ts';
export type { LaunchType } from '../domain.ts';
export { parseMessage } from './text.ts';
export { parseFollowTarget, parseRepositoryTag, tagMatches } from './follow.ts';
export type { FollowTarget, RepositoryTag } from './follow.ts';

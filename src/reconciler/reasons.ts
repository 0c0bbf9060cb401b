/**
 * Why a deployment ended or a step stalled: shown to users in `berth status`, `history` and the
 * audit log. Constants, so that tests and dashboards can match them; the numbers that decided
 * go after them.
 */
export const REASONS = {
  succeeded: 'release is live',
  aborted: 'aborted on request',
  analysisFailed: 'canary analysis failed',
  progressDeadline: 'progress deadline exceeded',
  imageMissing: 'image not found',
  /** The analysis deadline passed before the errors could be judged either way. */
  notEnoughTraffic: 'not enough traffic to judge',
  /** The analysis deadline passed with errors judged but another check (latency) undecided. */
  undecided: 'analysis undecided',
} as const;

/** Event kinds the workers append; see README "Audit log". */
export const EVENTS = {
  infrastructureProvided: 'infrastructure.provided',
  infrastructureMissing: 'infrastructure.missing',
  awsMutation: 'aws.mutation',
  imageResolved: 'release.image_resolved',
  taskDefinitionReady: 'release.task_definition_ready',
  stepStarted: 'deployment.step_started',
  windowJudged: 'deployment.window_judged',
  promoted: 'deployment.promoted',
  succeeded: 'deployment.succeeded',
  rollingBack: 'deployment.rolling_back',
  rolledBack: 'deployment.rolled_back',
  failed: 'deployment.failed',
  drift: 'service.drift_corrected',
  serviceMissing: 'service.ecs_service_missing',
  warmRetired: 'service.warm_task_set_retired',
} as const;

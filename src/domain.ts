/*
 * Words of Berth's domain that more than one floor speaks: the store keeps them in its columns,
 * the cloud passes them to AWS, validation parses them from flags. Types only, importing
 * nothing, so that any floor may import them (see .dependency-cruiser.mjs).
 */

/** Where an ECS task runs: AWS's own two words, as RegisterTaskDefinition and RunTask take them. */
export type LaunchType = 'FARGATE' | 'EC2';

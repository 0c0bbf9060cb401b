import { readFileSync, statSync } from 'node:fs';

/*
 * How an image's tasks behave, by words in its tag (`5xx`, `slow`, `crash`, `exit`) or a profiles file:
 * what the simulated AWS plays, and what the moto stand-in plays on moto. Both import it from
 * here; neither imports the other.
 */

/** How the tasks of one image behave in the simulated cloud (or on the stand-in). */
export interface BehaviourProfile {
  /** Share of requests answered with a 5xx, 0 to 1. */
  errorRate: number;
  /** 99th percentile of the target response time, in milliseconds. */
  p99Ms: number;
  /** Mean target response time, in milliseconds. */
  avgMs: number;
  /** From launch to RUNNING, in milliseconds. */
  startMs: number;
  /** From RUNNING to healthy in the target group, in milliseconds. */
  healthMs: number;
  /**
   * Tasks exit before they turn healthy, forever (a crash loop): each runs `crashAfterMs` past
   * its start, stops with `exitCode`, and ECS launches a replacement.
   */
  crash: boolean;
  /** How long a crashing task's container runs before it exits, in milliseconds. */
  crashAfterMs: number;
  /**
   * Tasks that start, run and turn healthy, then exit `exitAfterMs` past their start with
   * `exitCode` (a worker that loses its queue), and ECS launches a replacement; null: they stay.
   */
  exitAfterMs: number | null;
  /** The exit code a crashing task's essential container stops with. */
  exitCode: number;
}

/** A healthy service; quick to start, so that a test runs a whole rollout in seconds. */
export const HEALTHY: Readonly<BehaviourProfile> = {
  errorRate: 0.001,
  p99Ms: 120,
  avgMs: 40,
  startMs: 1000,
  healthMs: 500,
  crash: false,
  crashAfterMs: 500,
  exitAfterMs: null,
  exitCode: 1,
};

/** How long a task of an image tagged `exit` runs before it exits. */
export const EXIT_AFTER_MS = 2_500;

/** The environment variable naming a JSON file of profiles by image substring. */
export const PROFILES_ENV = 'BERTH_SIM_PROFILES';

type ProfileFile = Record<string, Partial<BehaviourProfile>>;

/**
 * The behaviour of `image` (`repo:tag`, `repo:tag@sha256:…`): first from words in its tag, so a
 * demo or a test needs no file (`5xx`, `slow`, `crash`), then overridden by the first entry of
 * the `BERTH_SIM_PROFILES` file whose key is a substring of the image. `base` is what an image
 * whose tag names no behaviour does.
 */
export function behaviourOf(
  image: string,
  profilesPath: string | undefined = process.env[PROFILES_ENV],
  base: Readonly<BehaviourProfile> = HEALTHY,
): BehaviourProfile {
  const fromTag = behaviourOfTag(imageTag(image), base);
  if (profilesPath === undefined || profilesPath === '') return fromTag;
  const match = Object.entries(readProfiles(profilesPath)).find(([key]) => image.includes(key));
  return match === undefined ? fromTag : { ...fromTag, ...match[1] };
}

function behaviourOfTag(tag: string, base: Readonly<BehaviourProfile>): BehaviourProfile {
  const profile = { ...base };
  if (tag.includes('5xx')) profile.errorRate = 0.3;
  if (tag.includes('slow')) {
    profile.p99Ms = 2000;
    profile.avgMs = 600;
  }
  if (tag.includes('crash')) profile.crash = true;
  // `exit` as a word of its own (not inside `exited`, say): tasks that run a few seconds, then exit.
  if (/(^|[^a-z])exit([^a-z]|$)/.test(tag)) profile.exitAfterMs = EXIT_AFTER_MS;
  return profile;
}

/** The tag of an image reference; empty when it has none (a bare name or only a digest). */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] ?? '';
  // A colon before the last slash belongs to a registry's port, not to a tag.
  const lastPart = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const colon = lastPart.indexOf(':');
  return colon === -1 ? '' : lastPart.slice(colon + 1);
}

// Read again only when the file changes: a demo may edit it while the workers run.
const profileCache = new Map<string, { mtimeMs: number; profiles: ProfileFile }>();

function readProfiles(path: string): ProfileFile {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    const cached = profileCache.get(path);
    if (cached !== undefined && cached.mtimeMs === mtimeMs) return cached.profiles;
    const profiles = JSON.parse(readFileSync(path, 'utf8')) as ProfileFile;
    profileCache.set(path, { mtimeMs, profiles });
    return profiles;
  } catch (error) {
    throw new Error(`the simulated AWS cannot read the behaviour profiles in ${path}`, {
      cause: error,
    });
  }
}

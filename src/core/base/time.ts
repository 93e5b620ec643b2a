/**
 * The clock port, and timestamps as SkillMeat writes them (naive UTC ISO-8601 with microseconds and no
 * `Z`). Every time the core records (lock `fetched`, manifest stamps, journal, history, transaction ids,
 * snapshots) comes from a `Clock` passed in its options, so a caller can pin it: the crash campaign does,
 * to compare a recovered collection with the exact after-tree of an uninterrupted run. Only composition
 * roots read the environment (`clockFromEnv`); nothing in the core does.
 */

/** The clock port: every time the core records or compares comes from one of these. */
export interface Clock {
  now(): Date;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that always reads `time`: for tests, and for the campaign's pinned runs. */
export function fixedClock(time: Date): Clock {
  const ms = time.getTime();
  return { now: () => new Date(ms) };
}

/**
 * The clock a composition root (the CLI's main, the extension's activate) builds from its environment:
 * ARTIFACT_KEEPER_NOW (an ISO time) pins it; anything else is the system clock.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv): Clock {
  const pinned = env.ARTIFACT_KEEPER_NOW ? new Date(env.ARTIFACT_KEEPER_NOW) : undefined;
  if (pinned && !Number.isNaN(pinned.getTime())) return fixedClock(pinned);
  return systemClock;
}

export function naiveUtcNow(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000`;
}

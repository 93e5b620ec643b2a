/**
 * Timestamps as SkillMeat writes them: naive UTC ISO-8601 with microseconds and no `Z`.
 * The clock is a port: ARTIFACT_KEEPER_NOW (an ISO time) pins it, so the crash campaign can compare
 * a recovered collection with the exact after-tree of an uninterrupted run.
 */

/** The clock port: every time the core records or compares comes from one of these. */
export interface Clock {
  now(): Date;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * The clock a composition root (the CLI's main, the extension's activate) builds from its environment:
 * ARTIFACT_KEEPER_NOW (an ISO time) pins it; anything else is the system clock.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv): Clock {
  const pinned = env.ARTIFACT_KEEPER_NOW ? new Date(env.ARTIFACT_KEEPER_NOW) : undefined;
  if (pinned && !Number.isNaN(pinned.getTime())) return { now: () => new Date(pinned.getTime()) };
  return systemClock;
}

/** @deprecated Read through a `Clock`; kept until every caller has one. */
export function now(): Date {
  const pinned = process.env.ARTIFACT_KEEPER_NOW;
  if (pinned) {
    const date = new Date(pinned);
    if (!Number.isNaN(date.getTime())) return date;
  }
  return new Date();
}

export function naiveUtcNow(date: Date = now()): string {
  return `${date.toISOString().slice(0, 23)}000`;
}

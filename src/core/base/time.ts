/**
 * Timestamps as SkillMeat writes them: naive UTC ISO-8601 with microseconds and no `Z`.
 * The clock is a port: ARTIFACT_KEEPER_NOW (an ISO time) pins it, so the crash campaign can compare
 * a recovered collection with the exact after-tree of an uninterrupted run.
 */

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

/**
 * Timestamps as SkillMeat writes them: naive UTC ISO-8601 with microseconds and no `Z`.
 */

export function naiveUtcNow(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 23)}000`;
}

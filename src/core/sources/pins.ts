/**
 * What a pinned version spec misses: a spec that resolved to a tag or a commit never moves, so `check`
 * says what upstream has beyond it — the newer version tags, or where the default branch is. Pure: it
 * reads the refs of the one `ls-remote` that resolved the spec, so a pin costs no extra remote call.
 * Only version-like tags (`v1.2.0`, `1.2`, `v2.0.0-rc.1`) are ordered; any other tag is never "newer".
 */
import type { ResolvedSource } from './resolve.js';

/** The refs an upstream advertised, as far as pins need them. */
export interface UpstreamRefs {
  /** Tag name (without `refs/tags/`) → the commit it points to (annotated tags peeled). */
  tags: ReadonlyMap<string, string>;
  /** The default branch's head, when the upstream has one. */
  headSha?: string;
  /** The default branch's name (`main`), when the upstream says. */
  headBranch?: string;
}

export interface PinnedInfo {
  /** What the spec pins: `tag` (by name) or `commit` (by sha). */
  kind: 'tag' | 'commit';
  /** The tag name, or the full commit sha. */
  at: string;
  /** For a commit pin: the highest version tag on that very commit, which newer tags are counted from. */
  tag?: string;
  /** The highest version tag upstream that orders after the pin; absent when none does. */
  newest?: string;
  /** How many version tags order after the pin (0 when the pin is no version, e.g. `stable`). */
  newerTags: number;
  /** For a commit pin: the default branch, when its head is not the pinned commit. */
  defaultBranch?: { name: string; sha: string };
}

interface Version {
  numbers: number[];
  prerelease: string[];
}

const VERSION_TAG = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** `v1.2.0`, `1.2`, `v2.0.0-rc.1` → their parts; any other name → undefined. */
export function parseVersionTag(name: string): Version | undefined {
  const match = VERSION_TAG.exec(name);
  if (!match) return undefined;
  const [, numbers = '', prerelease] = match;
  return {
    numbers: numbers.split('.').map(Number),
    prerelease: prerelease ? prerelease.split('.') : [],
  };
}

/** Semver order, with missing parts as 0 (`v1.2` = `v1.2.0`) and any number of parts (`v1.10` > `v1.9`). */
export function compareVersions(a: Version, b: Version): number {
  const length = Math.max(a.numbers.length, b.numbers.length);
  for (let i = 0; i < length; i++) {
    const diff = (a.numbers[i] ?? 0) - (b.numbers[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  // A release orders after its prereleases.
  if (a.prerelease.length === 0 || b.prerelease.length === 0)
    return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const left = a.prerelease[i];
    const right = b.prerelease[i];
    if (left === undefined) return -1;
    if (right === undefined) return 1;
    if (left === right) continue;
    const leftNumeric = /^\d+$/.test(left);
    const rightNumeric = /^\d+$/.test(right);
    if (leftNumeric && rightNumeric) return Math.sign(Number(left) - Number(right));
    if (leftNumeric !== rightNumeric) return leftNumeric ? -1 : 1;
    return left < right ? -1 : 1;
  }
  return 0;
}

/**
 * The pin of a resolved spec, or undefined when the spec follows something that moves (`latest`, a
 * branch). Newer tags are counted from the pinned tag; for a commit pin, from the highest version tag on
 * that commit (none: 0 newer, since without history a tag elsewhere cannot be ordered against a commit).
 * Prereleases count as newer only when the pin is a prerelease itself.
 */
export function pinnedInfo(resolved: ResolvedSource, refs: UpstreamRefs): PinnedInfo | undefined {
  let info: PinnedInfo;
  let from: string | undefined;
  if (resolved.ref.startsWith('refs/tags/')) {
    from = resolved.ref.slice('refs/tags/'.length);
    info = { kind: 'tag', at: from, newerTags: 0 };
  } else if (resolved.ref === resolved.sha) {
    from = highest([...refs.tags].filter(([, sha]) => sha === resolved.sha).map(([name]) => name));
    info = { kind: 'commit', at: resolved.sha, newerTags: 0, ...(from ? { tag: from } : {}) };
    if (refs.headSha && refs.headSha !== resolved.sha)
      info.defaultBranch = { name: refs.headBranch ?? 'HEAD', sha: refs.headSha };
  } else return undefined;
  const base = from === undefined ? undefined : parseVersionTag(from);
  if (!base) return info;
  const newer = [...refs.tags.keys()].filter((name) => {
    const version = parseVersionTag(name);
    if (!version) return false;
    if (version.prerelease.length > 0 && base.prerelease.length === 0) return false;
    return compareVersions(version, base) > 0;
  });
  info.newerTags = newer.length;
  const newest = highest(newer);
  if (newest) info.newest = newest;
  return info;
}

/** The name of the highest version among `names` (ties: the first in name order); non-versions ignored. */
function highest(names: string[]): string | undefined {
  let best: { name: string; version: Version } | undefined;
  for (const name of [...names].sort()) {
    const version = parseVersionTag(name);
    if (version && (!best || compareVersions(version, best.version) > 0)) best = { name, version };
  }
  return best?.name;
}

/**
 * `artifact-keeper check`: which artifacts have an update upstream. Exit 0 none, 10 updates available,
 * 69 when an upstream could not be reached (never reported as "up to date"). A spec pinned to a tag or
 * a commit says what upstream has beyond it; that is a hint, not an update (exit 0).
 */
import { checkUpdates } from '../../core/index.js';
import type { PinnedInfo } from '../../core/index.js';
import type { CliCommand } from '../main.js';
import { EXIT } from '../exitCodes.js';

export const checkCommand: CliCommand = {
  summary: 'resolve every upstream and list available updates (changes nothing)',
  usage: 'check [--collection DIR] [--json]',
  async run(ctx) {
    const results = await checkUpdates(ctx.collectionDir, {
      fs: ctx.fs,
      logger: ctx.logger,
      signal: ctx.signal,
      clock: ctx.clock,
      ...(ctx.faults ? { faults: ctx.faults } : {}),
    });
    if (ctx.json) ctx.printJson({ results });
    else {
      for (const r of results) {
        const current = r.currentSha?.slice(0, 12) ?? 'unknown';
        if (r.error) ctx.out(`${r.id}: error: ${r.error}`);
        else if (r.available)
          ctx.out(
            `${r.id}: update available ${current} -> ${r.latestVersion ?? r.latestSha?.slice(0, 12)}${r.executable ? ` (${r.executable.length} executable change(s): update needs --allow-exec)` : ''}`,
          );
        else if (r.pinned) ctx.out(`${r.id}: ${pinnedLine(r.pinned)}`);
        else ctx.out(`${r.id}: up to date`);
      }
      if (results.length === 0) ctx.out('no artifact has an upstream');
    }
    if (results.some((r) => r.error)) return EXIT.unavailable;
    return results.some((r) => r.available) ? EXIT.updatesAvailable : EXIT.ok;
  },
};

/** `pinned at v1.0.0; upstream has v1.2.0 (3 newer tags)`, or `up to date (pinned at v1.2.0)`. */
function pinnedLine(pin: PinnedInfo): string {
  const at = pin.kind === 'commit' ? pin.at.slice(0, 7) + (pin.tag ? ` (${pin.tag})` : '') : pin.at;
  const beyond: string[] = [];
  if (pin.newest)
    beyond.push(`upstream has ${pin.newest} (${pin.newerTags} newer tag${pin.newerTags === 1 ? '' : 's'})`);
  if (pin.defaultBranch)
    beyond.push(`the default branch ${pin.defaultBranch.name} is at ${pin.defaultBranch.sha.slice(0, 7)}`);
  return beyond.length > 0 ? `pinned at ${at}; ${beyond.join('; ')}` : `up to date (pinned at ${at})`;
}

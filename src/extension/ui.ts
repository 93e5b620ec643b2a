/**
 * Small shared pieces of the flows: picking a collection or an artifact, showing a set of changes in the
 * multi-file diff editor (with a fallback), formatting ages and artifact names.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ArtifactReport, PinnedInfo } from '../core/index.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import type { CollectionModel } from './store.js';

const t = vscode.l10n.t;

/** `skill/pdf` → `pdf`. */
export function shortName(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(slash + 1);
}

/** How many names a message lists before "and N more": an `update --all` touches thousands. */
const NAMED = 3;

/**
 * Names in a message, the first few and how many more: "pdf, docx, xlsx and 1,997 more". The items are
 * shown as they are (short names, or "pdf v2"), so a change of 2,000 artifacts stays one line.
 */
export function firstNames(items: readonly string[]): string {
  const named = items.slice(0, NAMED).join(', ');
  const more = items.length - NAMED;
  return more > 0 ? t('{0} and {1} more', named, more.toLocaleString('en-US')) : named;
}

export function versionText(version: string | undefined, sha: string | undefined): string {
  if (version) return version.startsWith('v') || !/^\d/.test(version) ? version : `v${version}`;
  return sha ? sha.slice(0, 7) : t('unknown version');
}

/**
 * What a pinned spec misses, short: `v1.2.0 available` (newer version tags) or `main at def5678` (a commit
 * pin whose default branch moved); undefined when the pin is the newest there is.
 */
export function pinnedHint(pin: PinnedInfo | undefined): string | undefined {
  if (pin?.newest) return t('{0} available', pin.newest);
  if (pin?.defaultBranch) return t('{0} at {1}', pin.defaultBranch.name, pin.defaultBranch.sha.slice(0, 7));
  return undefined;
}

/** `v1.0.0`, or a commit pin's short sha (with its version tag). */
export function pinnedAt(pin: PinnedInfo): string {
  return pin.kind === 'commit' ? pin.at.slice(0, 7) + (pin.tag ? ` (${pin.tag})` : '') : pin.at;
}

/** A snapshot's time for titles and picks, local and to the minute: `2026-12-04 10:12`. */
export function snapshotTime(time: string | number | Date): string {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return String(time);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/**
 * A collection file as people name it in titles: `pdf/SKILL.md` for a file of the folder artifact
 * `skill/pdf`, `review.md` for the single-file `command/review`, else the collection-relative path.
 */
export function fileLabel(collection: CollectionModel, rel: string): string {
  const owner = collection.report?.artifacts.find((a) => rel === a.path || rel.startsWith(`${a.path}/`));
  if (!owner) return rel;
  if (rel === owner.path) return path.posix.basename(rel);
  return `${owner.name}/${rel.slice(owner.path.length + 1)}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "5 minutes ago", "yesterday", … */
export function age(time: string | number | Date, now = Date.now()): string {
  const then = new Date(time).getTime();
  if (Number.isNaN(then)) return String(time);
  const seconds = Math.round((then - now) / 1000);
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ['second', 60],
    ['minute', 60],
    ['hour', 24],
    ['day', 30],
    ['month', 12],
    ['year', Infinity],
  ];
  let value = seconds;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) return relative.format(value, unit);
    value = Math.round(value / size);
  }
  return relative.format(value, 'year');
}

/** The collection to act on: the given one, the only one, or the person's pick. */
export async function pickCollection(
  services: Services,
  given?: CollectionModel,
): Promise<CollectionModel | undefined> {
  if (given) return given;
  const all = services.store.collections;
  if (all.length === 0) throw new ExtensionError({ code: 'no-collection' });
  if (all.length === 1) return all[0];
  return services.prompter.pick({
    id: 'pickCollection',
    title: t('Which collection?'),
    items: all.map((c) => ({ label: c.name, description: c.dir, value: c })),
  });
}

/** An artifact of the collection, picked by the person when not given. */
export async function pickArtifact(
  services: Services,
  collection: CollectionModel,
  filter: (artifact: ArtifactReport) => boolean = () => true,
): Promise<ArtifactReport | undefined> {
  const report = collection.report;
  if (!report) throw new ExtensionError({ code: 'collection-unreadable', collection: collection.name });
  const candidates = report.artifacts.filter(filter);
  return services.prompter.pick({
    id: 'pickArtifact',
    title: t('Which artifact of {0}?', collection.name),
    items: candidates.map((a) => ({
      label: a.id,
      description: [versionText(a.version, a.resolvedSha), a.state].join(' · '),
      value: a,
    })),
  });
}

export interface ChangeEntry {
  /** The file the entry is named after (usually the working file). */
  label: vscode.Uri;
  original: vscode.Uri;
  modified: vscode.Uri;
  /** The title of this file's own diff editor (the fallback), e.g. `pdf/SKILL.md (v1.2.0 ↔ local)`. */
  title?: string;
}

/**
 * The entries with their own diff titles, `pdf/SKILL.md (v1.2.0 ↔ local)`: the file as people name it
 * (fileLabel) and the two sides, left first. Never a temp path or a raw hash.
 */
export function titled(
  collection: CollectionModel,
  entries: readonly ChangeEntry[],
  sides: string,
): ChangeEntry[] {
  return entries.map((entry) => {
    const rel = path.relative(collection.dir, entry.label.fsPath).split(path.sep).join('/');
    return { ...entry, title: `${fileLabel(collection, rel)} (${sides})` };
  });
}

/**
 * Shows several file changes at once in VS Code's multi-file diff editor (`vscode.changes`); where that
 * command is missing, each change opens in its own diff editor.
 */
export async function showChanges(
  title: string,
  entries: readonly ChangeEntry[],
  log: vscode.LogOutputChannel,
): Promise<void> {
  if (entries.length === 0) return;
  // The artifacts' own files first; the bookkeeping (collection.toml, collection.lock) after them.
  const bookkeeping = (e: ChangeEntry): number =>
    ['collection.toml', 'collection.lock'].includes(path.basename(e.label.path)) ? 1 : 0;
  entries = [...entries].sort((a, b) => bookkeeping(a) - bookkeeping(b));
  try {
    await vscode.commands.executeCommand(
      'vscode.changes',
      title,
      entries.map((e) => [e.label, e.original, e.modified]),
    );
    return;
  } catch (err) {
    log.warn(`[UI] vscode.changes failed (${String(err)}); opening diff editors instead`);
  }
  for (const entry of entries.slice(0, 10)) {
    await vscode.commands.executeCommand(
      'vscode.diff',
      entry.original,
      entry.modified,
      entry.title ?? `${title}: ${path.basename(entry.label.path)}`,
      {
        preview: false,
      },
    );
  }
}

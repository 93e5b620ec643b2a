/**
 * The collection-level flows: check for updates (also the background loop's step), add an artifact from
 * git, create or open a collection, the diff against upstream, and the status quick pick whose items
 * are the findings, each with its fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  addFromSource,
  checkUpdates,
  initCollection,
  isNoiseName,
  prepareUpdate,
  readUpstreamFile,
} from '../core/index.js';
import type { ArtifactReport, CheckResult } from '../core/index.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import { execPolicy } from './execApproval.js';
import { toSnapshotUri } from './snapshotContent.js';
import type { CollectionModel } from './store.js';
import { collectionSummary } from './tree.js';
import { pinnedHint, shortName, showChanges, titled, versionText } from './ui.js';
import type { ChangeEntry } from './ui.js';
import { describeHolder } from './userErrors.js';

const t = vscode.l10n.t;

/** Checks collections for updates. `background`: no notification, the view and status bar show progress. */
export async function checkFlow(
  services: Services,
  collections: readonly CollectionModel[],
  background = false,
): Promise<CheckResult[]> {
  if (!vscode.workspace.isTrusted) throw new ExtensionError({ code: 'untrusted' });
  const all: CheckResult[] = [];
  for (const collection of collections) {
    const results = await services.store.run(
      collection,
      {
        activity: { kind: 'checking' },
        mutates: false,
        progress: background ? 'background' : 'notification',
        title: t('Checking {0} for updates', collection.name),
      },
      async (ctx) => {
        const found = await checkUpdates(collection.dir, ctx.options);
        ctx.setCheckResults(found);
        return found;
      },
    );
    all.push(...results);
  }
  const available = all.filter((r) => r.available);
  const failed = all.filter((r) => r.error);
  for (const result of failed) services.log.warn(`[Check] ${result.id}: ${result.error ?? ''}`);
  services.log.info(`[Check] ${available.length} update(s) available, ${failed.length} upstream(s) failed`);
  if (background) return all;
  const list = available
    .map((r) => `${shortName(r.id)} (${versionText(r.latestVersion, r.latestSha)})`)
    .join(', ');
  // Never "up to date" about what was not checked: no collection, no upstream, or every check failed.
  const checked = all.length - failed.length;
  const message =
    collections.length === 0
      ? t('No collection to check: open a folder with a collection.toml.')
      : all.length === 0
        ? t('Nothing to check: no artifact has an upstream.')
        : available.length > 0
          ? t('{0} update(s) available: {1}.', available.length, list)
          : checked === 0
            ? t('Could not check for updates.')
            : failed.length === 0
              ? t('Everything is up to date ({0} checked).', checked)
              : t('No updates among the {0} upstream(s) checked.', checked);
  const failure = failed.length > 0 ? ` ${t('{0} upstream(s) could not be checked.', failed.length)}` : '';
  // Pins with something newer upstream are no update, but worth a mention: "Pinned: pdf (v1.2.0 available)."
  const pins = all.flatMap((r) => {
    const hint = r.available || r.error ? undefined : pinnedHint(r.pinned);
    return hint ? [`${shortName(r.id)} (${hint})`] : [];
  });
  const pinned = pins.length > 0 ? ` ${t('Pinned: {0}.', pins.join(', '))}` : '';
  void services.prompter
    .notify({
      id: 'check-done',
      severity: failed.length > 0 ? 'warning' : 'info',
      message: `${message}${pinned}${failure}`,
      actions: [
        ...(available.length > 0 && collections.length === 1
          ? [{ id: 'updateAll', title: t('Update All') }]
          : []),
        ...(failed.length > 0 ? [{ id: 'showLog', title: t('Show Log') }] : []),
      ],
    })
    .then((action) => {
      if (action === 'updateAll')
        void vscode.commands.executeCommand('artifactKeeper.updateAll', collections[0]?.dir);
      if (action === 'showLog') services.log.show(true);
    });
  return all;
}

const TYPES = ['skill', 'command', 'agent', 'hook', 'mcp', 'workflow', 'composite'];

/** "Add artifact from git…": a SOURCE (URL, local repository, owner/repo/path@ref, folder), then its type. */
export async function addFlow(services: Services, collection: CollectionModel): Promise<string | undefined> {
  const source = await services.prompter.input({
    id: 'sourceText',
    title: t('Add an artifact to {0}', collection.name),
    prompt: t(
      'A git URL or local repository (with #path and @ref), owner/repo/path@ref on GitHub, or a local folder',
    ),
    placeholder: 'https://github.com/owner/repo.git#skills/pdf@v1.2',
    validate: (value) => (value.trim() === '' ? t('Enter a source') : undefined),
  });
  if (!source?.trim()) return undefined;
  const type = await services.prompter.pick({
    id: 'pickArtifactType',
    title: t('What kind of artifact is it?'),
    items: [
      { label: t('Detect from the source'), value: '' },
      ...TYPES.map((type) => ({ label: type, value: type })),
    ],
  });
  if (type === undefined) return undefined;
  const result = await services.store.run(
    collection,
    {
      activity: { kind: 'adding', source: source.trim() },
      mutates: true,
      progress: 'notification',
      title: t('Adding {0}', source.trim()),
    },
    (ctx) =>
      addFromSource(
        collection.dir,
        source.trim(),
        { ...(type ? { type } : {}), cwd: collection.dir },
        // What the new artifact runs needs its yes (DESIGN §11), as an update's does.
        { ...ctx.options, exec: execPolicy(services) },
      ),
  );
  void services.prompter
    .notify({
      id: 'artifact-added',
      severity: 'info',
      message: t('Added {0} ({1}).', result.id, versionText(result.version, result.sha)),
      actions: [{ id: 'open', title: t('Open') }],
    })
    .then((action) => {
      if (action === 'open') void openArtifact(services, collection, result.id);
    });
  return result.id;
}

/** "Create collection…": an empty collection in a folder (a workspace folder, or one the person picks). */
export async function createCollectionFlow(
  services: Services,
  folder?: vscode.Uri,
): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted) throw new ExtensionError({ code: 'untrusted' });
  const target =
    folder ??
    (await services.prompter.pickFolder({
      id: 'pickFolder',
      title: t('Where should the collection be created?'),
      openLabel: t('Create Collection Here'),
      ...(vscode.workspace.workspaceFolders?.[0]
        ? { defaultUri: vscode.workspace.workspaceFolders[0].uri }
        : {}),
    }));
  if (!target) return undefined;
  const dir = target.fsPath;
  if (fs.existsSync(path.join(dir, '.claude')) && !fs.existsSync(path.join(dir, 'collection.toml'))) {
    // Claude Code reads a project's artifacts from .claude/: a collection's skills/ beside it would
    // never take effect there. Deploying from a collection into a project is its own feature.
    const yes = await services.prompter.confirm({
      id: 'confirmProjectCollection',
      message: t(
        '{0} is a Claude Code project (it has .claude/). Create a collection here anyway?',
        path.basename(dir),
      ),
      detail: t(
        'A collection keeps artifacts in skills/, commands/ and agents/ beside collection.toml; Claude Code does not read those in a project. Keep your collection in a folder of its own.',
      ),
      confirm: t('Create Here Anyway'),
    });
    if (!yes) return undefined;
  }
  const name = await services.prompter.input({
    id: 'collectionName',
    title: t('Name of the new collection'),
    value: path.basename(dir),
    validate: (value) =>
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value.trim())
        ? undefined
        : t('Use letters, digits, ".", "_" and "-"'),
  });
  if (!name) return undefined;
  await initCollection(dir, { ...services.store.operationOptions(), name: name.trim() });
  services.log.info(`[Collections] created ${name} in ${dir}`);
  await showCollection(services, dir);
  void services.prompter.notify({
    id: 'collection-created',
    severity: 'info',
    message: t('Created collection {0}.', name.trim()),
    actions: [],
  });
  return dir;
}

/** "Open collection…": shows a collection folder (adding it to the extraCollections setting when outside the workspace). */
export async function openCollectionFlow(
  services: Services,
  folder?: vscode.Uri,
): Promise<string | undefined> {
  const target =
    folder ??
    (await services.prompter.pickFolder({
      id: 'pickFolder',
      title: t('Open a collection'),
      openLabel: t('Open Collection'),
    }));
  if (!target) return undefined;
  const dir = target.fsPath;
  if (!fs.existsSync(path.join(dir, 'collection.toml'))) {
    void services.prompter
      .notify({
        id: 'not-a-collection',
        severity: 'warning',
        message: t('{0} has no collection.toml.', dir),
        actions: [{ id: 'create', title: t('Create Collection Here') }],
      })
      .then((action) => {
        if (action === 'create')
          void vscode.commands.executeCommand('artifactKeeper.createCollection', target);
      });
    return undefined;
  }
  await showCollection(services, dir);
  return dir;
}

/** Makes sure the store lists `dir`: inside the workspace it is found; outside, it goes into the setting. */
async function showCollection(services: Services, dir: string): Promise<void> {
  const inWorkspace = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dir)) !== undefined;
  const extra = services.config.get('extraCollections');
  if (!inWorkspace && !services.config.extraCollectionDirs().includes(path.resolve(dir))) {
    await vscode.workspace
      .getConfiguration('artifactKeeper')
      .update('extraCollections', [...extra, dir], vscode.ConfigurationTarget.Global);
  }
  await services.store.discover();
}

/** The artifact's main file: SKILL.md of a skill folder, the file itself otherwise. */
export async function openArtifact(
  services: Services,
  collection: CollectionModel,
  artifactId: string,
): Promise<void> {
  const report = collection.report?.artifacts.find((a) => a.id === artifactId);
  if (!report?.path) return;
  const target = path.join(collection.dir, report.path);
  const main = ['SKILL.md', 'skill.md', 'README.md']
    .map((name) => path.join(target, name))
    .find((file) => fs.existsSync(file));
  const file = fs.statSync(target, { throwIfNoEntry: false })?.isDirectory() ? main : target;
  if (file) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file));
  else await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(target));
}

/**
 * "Show diff against upstream": the upstream version ↔ the working files. For an artifact with a newer
 * upstream the latest is fetched (a plan; nothing is written); otherwise the pinned upstream tree the
 * snapshot store keeps is compared, offline.
 */
export async function diffFlow(
  services: Services,
  collection: CollectionModel,
  artifact: ArtifactReport,
): Promise<number> {
  if (!artifact.resolvedSha) throw new ExtensionError({ code: 'no-upstream', artifact: artifact.id });
  let upstreamVersion = versionText(artifact.version, artifact.resolvedSha);
  const entries = await services.store.run(
    collection,
    {
      activity: { kind: 'checking' },
      mutates: false,
      progress: 'notification',
      title: t('Comparing {0} with upstream', shortName(artifact.id)),
    },
    async (ctx) => {
      const plan = await prepareUpdate(collection.dir, [artifact.id], 'merge', ctx.options);
      try {
        const planned = plan.artifacts[0];
        if (planned && !planned.upToDate) {
          upstreamVersion = versionText(planned.to.version, planned.to.sha);
          const key = `diff-${artifact.id}-${Date.now()}`;
          const files = new Map(planned.files.map((f) => [f.rel, f]));
          services.content
            .registerPlan(key, (_id, rel, side) => files.get(rel)?.[side === 'result' ? 'mine' : side]?.data)
            .dispose();
          const localFile = (rel: string): string =>
            planned.isFolder ? path.join(planned.localRoot, ...rel.split('/')) : planned.localRoot;
          return planned.files
            .filter((file) => !sameData(file.upstream?.data, file.mine?.data))
            .map((file): ChangeEntry => ({
              label: vscode.Uri.file(
                planned.isFolder ? path.join(planned.localRoot, ...file.rel.split('/')) : planned.localRoot,
              ),
              original: file.upstream
                ? toSnapshotUri(
                    { kind: 'plan', plan: key, artifact: artifact.id, rel: file.rel, side: 'upstream' },
                    localFile(file.rel),
                  )
                : toSnapshotUri({ kind: 'empty', rel: file.rel }, localFile(file.rel)),
              modified: file.mine
                ? vscode.Uri.file(
                    planned.isFolder
                      ? path.join(planned.localRoot, ...file.rel.split('/'))
                      : planned.localRoot,
                  )
                : toSnapshotUri({ kind: 'empty', rel: file.rel }, localFile(file.rel)),
            }));
        }
        return pinnedDiff(services, collection, artifact);
      } finally {
        await plan.dispose();
      }
    },
  );
  if (entries.length === 0) {
    void services.prompter.notify({
      id: 'diff-none',
      severity: 'info',
      message: t('{0} is identical to its upstream.', artifact.id),
      actions: [],
    });
    return 0;
  }
  const sides = t('{0} ↔ local', upstreamVersion);
  await showChanges(
    t('{0} ({1})', shortName(artifact.id), sides),
    titled(collection, entries, sides),
    services.log,
  );
  return entries.length;
}

/** Working files against the pinned upstream tree (files deleted locally are not listed: no upstream listing yet). */
async function pinnedDiff(
  services: Services,
  collection: CollectionModel,
  artifact: ArtifactReport,
): Promise<ChangeEntry[]> {
  const root = path.join(collection.dir, artifact.path);
  const isFolder = fs.statSync(root, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const files = isFolder ? listFiles(root) : [path.basename(root)];
  const entries: ChangeEntry[] = [];
  for (const rel of files) {
    const working = isFolder ? vscode.Uri.file(path.join(root, ...rel.split('/'))) : vscode.Uri.file(root);
    const upstream = await readUpstreamFile(
      collection.dir,
      artifact.type,
      artifact.name,
      rel,
      artifact.resolvedSha,
      services.store.readOptions(),
    );
    const mine = fs.readFileSync(working.fsPath);
    if (upstream && Buffer.from(upstream).equals(mine)) continue;
    entries.push({
      label: working,
      original: upstream
        ? toSnapshotUri(
            {
              kind: 'upstream',
              dir: collection.dir,
              type: artifact.type,
              name: artifact.name,
              rel,
              ...(artifact.resolvedSha ? { sha: artifact.resolvedSha } : {}),
            },
            working.fsPath,
          )
        : toSnapshotUri({ kind: 'empty', rel }, working.fsPath),
      modified: working,
    });
  }
  return entries;
}

/** An artifact folder's files, noise left out (it is never an edit, so never a difference either). */
function listFiles(root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, prefix), { withFileTypes: true })) {
    if (isNoiseName(entry.name)) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(root, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

function sameData(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

export interface Fix {
  label: string;
  run: () => Thenable<unknown> | Promise<unknown>;
}

/** The status bar's click: every finding of every collection, each with the fixes that apply. */
export async function statusFlow(services: Services): Promise<void> {
  const command =
    (id: string, ...args: unknown[]) =>
    () =>
      vscode.commands.executeCommand(id, ...args);
  const items: {
    label: string;
    description?: string;
    detail?: string;
    value: Fix | undefined;
    separator?: boolean;
  }[] = [];
  for (const collection of services.store.collections) {
    items.push({
      label: `${collection.name} — ${collectionSummary(collection)}`,
      value: undefined,
      separator: true,
    });
    const fix = (label: string, description: string | undefined, run: Fix['run']): void => {
      items.push({ label, ...(description ? { description } : {}), value: { label, run } });
    };
    if (collection.foreignLock) {
      fix(
        t('$(lock) Locked by {0}', describeHolder(collection.foreignLock)),
        t('Refresh'),
        command('artifactKeeper.refresh'),
      );
    }
    if (!collection.report) {
      fix(
        t('$(error) The collection cannot be read'),
        t('Open manifest'),
        command('artifactKeeper.openManifest', collection.dir),
      );
      continue;
    }
    for (const finding of collection.report.findings) {
      const artifact = finding.artifact
        ? collection.report.artifacts.find((a) => a.id === finding.artifact)
        : undefined;
      const target = { collection: collection.dir, artifact: finding.artifact };
      switch (finding.code) {
        case 'journal-present':
          fix(
            `$(debug-restart) ${finding.message}`,
            t('Recover'),
            command('artifactKeeper.recover', collection.dir),
          );
          break;
        case 'content-modified':
          fix(
            `$(check) ${finding.message}`,
            t('Keep my edits (re-lock)'),
            command('artifactKeeper.keepEdits', target),
          );
          if (artifact?.resolvedSha)
            fix(
              `$(diff) ${finding.message}`,
              t('Show diff against upstream'),
              command('artifactKeeper.showDiff', target),
            );
          fix(
            `$(discard) ${finding.message}`,
            t('Discard local changes'),
            command('artifactKeeper.discardChanges', target),
          );
          fix(
            `$(discard) ${finding.message}`,
            t('Restore a snapshot…'),
            command('artifactKeeper.restoreSnapshot', collection.dir),
          );
          break;
        case 'conflicted':
          fix(
            `$(git-merge) ${finding.message}`,
            t('Reopen merge editor'),
            command('artifactKeeper.resolveConflicts'),
          );
          break;
        case 'files-missing':
          fix(
            `$(cloud-download) ${finding.message}`,
            t('Reinstall from the locked content'),
            command('artifactKeeper.reinstall', target),
          );
          fix(
            `$(trash) ${finding.message}`,
            t('Remove from collection'),
            command('artifactKeeper.removeArtifact', target),
          );
          fix(
            `$(discard) ${finding.message}`,
            t('Restore a snapshot…'),
            command('artifactKeeper.restoreSnapshot', collection.dir),
          );
          break;
        default:
          fix(
            `$(warning) ${finding.message}`,
            t('Restore a snapshot…'),
            command('artifactKeeper.restoreSnapshot', collection.dir),
          );
          fix(
            `$(go-to-file) ${finding.message}`,
            t('Open manifest'),
            command('artifactKeeper.openManifest', collection.dir),
          );
      }
    }
    const updates = [...collection.updates.values()].filter((u) => u.available);
    if (updates.length > 0) {
      fix(
        t('$(cloud-download) {0} update(s) available', updates.length),
        t('Update all'),
        command('artifactKeeper.updateAll', collection.dir),
      );
    }
    if (collection.report.findings.length === 0 && updates.length === 0) {
      fix(
        t('$(check) Manifest, lock and files agree'),
        t('Check for updates'),
        command('artifactKeeper.checkForUpdates', collection.dir),
      );
    }
  }
  const picked = await services.prompter.pick({
    id: 'pickFix',
    title: t('Artifact Keeper: collection status'),
    items,
  });
  if (picked) await picked.run();
}

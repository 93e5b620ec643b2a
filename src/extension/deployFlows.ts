/**
 * The project moves from VS Code (DESIGN §10): Deploy to Project… from the collection tree, and the
 * Deployed view's Update from Collection, Pull into Collection, Undeploy and Show Changes. Each runs
 * through the store when the collection is shown (so the tree and status bar refresh), offers Undo, and
 * asks before project edits would be lost: Merge (default), Overwrite (undo brings them back), or Cancel.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CoreError,
  deployArtifacts,
  deployedSides,
  loadCollection,
  projectProfileRoot,
  PROFILES,
  pullArtifacts,
  undeployArtifacts,
  userProfileRoot,
} from '../core/index.js';
import type { DeployStrategy, OperationOptions, ProfileId, ProfileRoot } from '../core/index.js';
import { showError } from './commands.js';
import type { DeployedElement, DeployedView } from './deployedView.js';
import { execPolicy } from './execApproval.js';
import { ExtensionError } from './extensionError.js';
import type { Services } from './services.js';
import { toSnapshotUri } from './snapshotContent.js';
import type { PlanSide } from './snapshotContent.js';
import { showChanges as showChangeEntries } from './ui.js';
import type { ChangeEntry } from './ui.js';
import type { TreeElement } from './tree.js';

const t = vscode.l10n.t;

type Move = 'deploy' | 'pull' | 'undeploy';

/** Runs a project move on a collection: through the store when it shows it, else directly. */
async function runMove<T>(
  services: Services,
  collectionDir: string,
  title: string,
  ids: string[],
  work: (options: OperationOptions) => Promise<T>,
): Promise<T> {
  const shown = services.store.find(collectionDir);
  const home = os.homedir();
  if (!shown) {
    if (!vscode.workspace.isTrusted) throw new ExtensionError({ code: 'untrusted' });
    return work({ ...services.store.operationOptions(undefined, vscode.Uri.file(collectionDir)), home });
  }
  return services.store.run(
    shown,
    { activity: { kind: 'fixing', artifacts: ids }, mutates: true, progress: 'notification', title },
    (ctx) => work({ ...ctx.options, home }),
  );
}

function offerUndo(services: Services, collectionDir: string, txId: string, message: string): void {
  if (!txId) {
    void services.prompter.notify({ id: 'project-unchanged', severity: 'info', message, actions: [] });
    return;
  }
  void services.prompter
    .notify({ id: 'project-moved', severity: 'info', message, actions: [{ id: 'undo', title: t('Undo') }] })
    .then((action) => {
      if (action === 'undo') void vscode.commands.executeCommand('artifactKeeper.undo', collectionDir, txId);
    });
}

/** Deploys, asking Merge / Overwrite / Cancel when project edits would be lost. */
async function deploy(
  services: Services,
  collectionDir: string,
  root: ProfileRoot,
  ids: string[],
): Promise<void> {
  const title = t('Deploying {0}', ids.join(', '));
  const attempt = (strategy?: DeployStrategy, force?: boolean) =>
    runMove(services, collectionDir, title, ids, (options) =>
      deployArtifacts(
        collectionDir,
        root,
        ids,
        { ...options, exec: execPolicy(services) },
        {
          ...(strategy ? { strategy } : {}),
          ...(force ? { force } : {}),
        },
      ),
    );
  let result;
  try {
    result = await attempt();
  } catch (err) {
    if (!(err instanceof CoreError) || err.failure.code !== 'project-edits') throw err;
    const answer = await services.prompter.warn({
      id: 'deployOverEdits',
      message: t('{0} was edited in the project.', ids.join(', ')),
      detail: t(
        'Merge keeps the project edits and brings in the collection’s changes. Overwrite replaces the edits (Undo brings them back).',
      ),
      choices: [
        { id: 'merge', title: t('Merge') },
        { id: 'overwrite', title: t('Overwrite') },
      ],
    });
    if (answer === 'merge') result = await attempt('merge');
    else if (answer === 'overwrite') result = await attempt(undefined, true);
    else return;
  }
  const outcomes = result.artifacts.map((a) => `${a.id}: ${a.outcome}`).join(', ');
  offerUndo(services, collectionDir, result.txId, t('Deployed to {0}: {1}', root.dir, outcomes));
}

function selected(element: unknown): (DeployedElement & { kind: 'deployed' }) | undefined {
  const e = element as DeployedElement | undefined;
  return e && typeof e === 'object' && e.kind === 'deployed' ? e : undefined;
}

async function projectMove(
  services: Services,
  view: DeployedView,
  move: Move,
  element: unknown,
): Promise<void> {
  const item = selected(element);
  if (!item) return;
  const { project, entry } = item;
  const collectionDir = project.collectionDir;
  if (!collectionDir) throw new Error(t('No collection found for {0}', project.root.dir));
  if (move === 'deploy') await deploy(services, collectionDir, project.root, [entry.id]);
  else if (move === 'pull') {
    const result = await runMove(services, collectionDir, t('Pulling {0}', entry.id), [entry.id], (options) =>
      pullArtifacts(collectionDir, project.root, [entry.id], options, { strategy: 'merge' }),
    );
    const outcomes = result.artifacts.map((a) => `${a.id}: ${a.outcome}`).join(', ');
    offerUndo(services, collectionDir, result.txId, t('Pulled into the collection: {0}', outcomes));
  } else {
    const ok = await services.prompter.confirm({
      id: 'confirmUndeploy',
      message: t('Remove {0} from {1}?', entry.name, project.root.dir),
      detail: t('Undo brings it back.'),
      confirm: t('Undeploy'),
      modal: true,
    });
    if (!ok) return;
    const result = await runMove(
      services,
      collectionDir,
      t('Undeploying {0}', entry.id),
      [entry.id],
      (options) => undeployArtifacts(collectionDir, project.root, [entry.id], options, false),
    );
    offerUndo(services, collectionDir, result.txId, t('Undeployed {0} from {1}', entry.id, project.root.dir));
  }
  void view.refresh();
}

/**
 * A deployed artifact's drift three ways, in the multi-file diff editor: each file the project changed
 * since the deploy (as deployed ↔ project) and each the collection changed (as deployed ↔ collection),
 * the copy as deployed read from the snapshot store. Without a stored deployed copy (SkillMeat deployed
 * it), collection ↔ project.
 */
async function showChanges(services: Services, element: unknown): Promise<ShownChange[]> {
  const item = selected(element);
  const collectionDir = item?.project.collectionDir;
  if (!item || !collectionDir) return [];
  const { project, entry } = item;
  const sides = await deployedSides(
    loadCollection(collectionDir),
    project.root,
    entry,
    services.store.readOptions(),
  );
  if (sides.files.length === 0) {
    await vscode.commands.executeCommand(
      'vscode.open',
      vscode.Uri.file(path.join(project.root.dir, entry.path)),
    );
    return [];
  }
  const key = `deployed:${entry.id}:${Date.now()}`;
  const byRel = new Map(sides.files.map((f) => [f.rel, f]));
  const registration = services.content.registerPlan(key, (_artifact, rel, side) => {
    const file = byRel.get(rel);
    return side === 'base' ? file?.base : side === 'mine' ? file?.project : file?.collection;
  });
  const side = (rel: string, which: PlanSide, present: boolean): vscode.Uri =>
    present
      ? toSnapshotUri(
          { kind: 'plan', plan: key, artifact: entry.id, rel, side: which },
          `${entry.name}/${rel}`,
        )
      : toSnapshotUri({ kind: 'empty', rel });
  const entries: ChangeEntry[] = [];
  for (const file of sides.files) {
    const projectUri = vscode.Uri.file(file.projectFile);
    const collectionUri = file.collectionFile ? vscode.Uri.file(file.collectionFile) : undefined;
    const working = (uri: vscode.Uri | undefined, present: boolean, which: PlanSide): vscode.Uri =>
      present && uri ? uri : side(file.rel, which, false);
    if (!sides.baseKnown) {
      entries.push({
        label: projectUri,
        original: working(collectionUri, file.collection !== undefined, 'upstream'),
        modified: working(projectUri, file.project !== undefined, 'mine'),
        title: t('{0} (collection ↔ project)', file.rel),
      });
      continue;
    }
    if (file.projectChanged)
      entries.push({
        label: projectUri,
        original: side(file.rel, 'base', file.base !== undefined),
        modified: working(projectUri, file.project !== undefined, 'mine'),
        title: t('{0} (as deployed ↔ project)', file.rel),
      });
    if (collectionUri && file.collectionChanged)
      entries.push({
        label: collectionUri,
        original: side(file.rel, 'base', file.base !== undefined),
        modified: working(collectionUri, file.collection !== undefined, 'upstream'),
        title: t('{0} (as deployed ↔ collection)', file.rel),
      });
  }
  await showChangeEntries(
    sides.baseKnown
      ? t('{0}: as deployed ↔ project, as deployed ↔ collection', entry.name)
      : t('{0}: collection ↔ project', entry.name),
    entries,
    services.log,
  );
  // The sides stay readable while the tabs are open (retired plans are kept for a while).
  registration.dispose();
  return entries.map((e) => ({
    title: e.title ?? '',
    original: e.original.toString(),
    modified: e.modified.toString(),
  }));
}

/** What Show Changes opened, per diff (returned by the command, for tests and other extensions). */
export interface ShownChange {
  title: string;
  original: string;
  modified: string;
}

/** Other profile roots present in a folder (`.codex`, `.gemini`, `.cursor`). */
function profilesIn(folder: string): ProfileId[] {
  return (Object.keys(PROFILES) as ProfileId[]).filter((id) => {
    const root = projectProfileRoot(folder, id);
    return fs.statSync(root.dir, { throwIfNoEntry: false })?.isDirectory();
  });
}

/** Deploy to Project… on a collection tree artifact (or the palette with `{collection, artifact}`). */
async function deployToProject(services: Services, args: unknown[]): Promise<void> {
  const [first, second] = args;
  let collectionDir: string | undefined;
  let ids: string[] = [];
  if (first && typeof first === 'object' && 'kind' in first) {
    const element = first as TreeElement;
    const selection = Array.isArray(second) ? (second as TreeElement[]) : [element];
    collectionDir = (element as { dir?: string }).dir;
    ids = selection
      .filter((e) => e.kind === 'artifact' && e.dir === collectionDir)
      .map((e) => (e as TreeElement & { kind: 'artifact' }).artifact);
  } else if (first && typeof first === 'object' && 'collection' in first) {
    const value = first as { collection: string; artifact: string | string[] };
    collectionDir = value.collection;
    ids = Array.isArray(value.artifact) ? value.artifact : [value.artifact];
  }
  if (!collectionDir || ids.length === 0) {
    const collections = services.store.collections;
    const collection =
      collections.length === 1
        ? collections[0]
        : await services.prompter.pick({
            id: 'pickCollection',
            title: t('Deploy from which collection?'),
            items: collections.map((c) => ({ label: c.name, description: c.dir, value: c })),
          });
    if (!collection) return;
    collectionDir = collection.dir;
    const artifact = await services.prompter.pick({
      id: 'pickArtifact',
      title: t('Deploy which artifact?'),
      items: (collection.report?.artifacts ?? []).map((a) => ({
        label: a.name,
        description: a.type,
        value: a.id,
      })),
    });
    if (!artifact) return;
    ids = [artifact];
  }
  const folders = (vscode.workspace.workspaceFolders ?? []).filter(
    (f) => f.uri.scheme === 'file' && path.resolve(f.uri.fsPath) !== path.resolve(collectionDir ?? ''),
  );
  const target = await services.prompter.pick<string>({
    id: 'pickDeployTarget',
    title: t('Deploy {0} to…', ids.join(', ')),
    items: [
      ...folders.map((f) => ({ label: f.name, description: f.uri.fsPath, value: f.uri.fsPath })),
      { label: t('User (~/.claude)'), description: os.homedir(), value: '~' },
    ],
  });
  if (!target) return;
  let root: ProfileRoot;
  if (target === '~') root = userProfileRoot(os.homedir());
  else {
    const present = profilesIn(target).filter((id) => id !== 'claude_code');
    let profile: ProfileId = 'claude_code';
    if (present.length > 0) {
      const picked = await services.prompter.pick<ProfileId>({
        id: 'pickProfile',
        title: t('Deploy into which profile?'),
        items: (['claude_code', ...present] as ProfileId[]).map((id) => ({
          label: projectProfileRoot(target, id).dir.slice(target.length + 1),
          description: id,
          value: id,
        })),
      });
      if (!picked) return;
      profile = picked;
    }
    root = projectProfileRoot(target, profile);
  }
  await deploy(services, collectionDir, root, ids);
}

export function registerDeployCommands(services: Services, view: DeployedView): vscode.Disposable {
  const table: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    'artifactKeeper.deployToProject': (...args) => deployToProject(services, args),
    'artifactKeeper.deployed.update': (element) => projectMove(services, view, 'deploy', element),
    'artifactKeeper.deployed.pull': (element) => projectMove(services, view, 'pull', element),
    'artifactKeeper.deployed.undeploy': (element) => projectMove(services, view, 'undeploy', element),
    'artifactKeeper.deployed.showChanges': (element) => showChanges(services, element),
    'artifactKeeper.deployed.refresh': async () => view.refresh(),
  };
  return vscode.Disposable.from(
    ...Object.entries(table).map(([id, run]) =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await run(...args);
        } catch (err) {
          showError(services, err);
          return undefined;
        } finally {
          void view.refresh();
        }
      }),
    ),
  );
}

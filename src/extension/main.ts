/**
 * The composition root: builds every service once, hands each its dependencies, gives every disposable
 * to the extension context, and returns the API. No logic lives here, and nothing slow: the first
 * consistency check runs after `activate` has returned.
 */
import * as vscode from 'vscode';
import { clockFromEnv, CollectionChecker } from '../core/index.js';
import type { ArtifactKeeperApi } from './api.js';
import { registerCommands } from './commands.js';
import { registerDeployCommands } from './deployFlows.js';
import { DeployedView } from './deployedView.js';
import { Config, changed } from './config.js';
import { MergeCompletions } from './mergeCompletion.js';
import { MergeResults } from './mergeResult.js';
import { ProgressManager } from './progress.js';
import { SwitchablePrompter, VsCodePrompter } from './prompter.js';
import type { Services } from './services.js';
import { SnapshotContentProvider } from './snapshotContent.js';
import { StatusIndicator } from './statusBar.js';
import { Store } from './store.js';
import { ArtifactTree } from './tree.js';
import { UpdateChecker } from './updater.js';

export function activate(context: vscode.ExtensionContext): ArtifactKeeperApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Artifact Keeper', { log: true });
  context.subscriptions.push(log);
  try {
    const config = new Config();
    // The only place the extension reads the clock's pin: the e2e tests set ARTIFACT_KEEPER_NOW.
    // Consistency checks run in a worker thread (the bundle's second entry) so the window never freezes.
    const checker = new CollectionChecker({
      workerFile: context.asAbsolutePath('dist/checkWorker.js'),
      logger: log,
    });
    context.subscriptions.push(checker);
    const store = new Store(config, log, checker, clockFromEnv(process.env));
    const completions = new MergeCompletions();
    const results = new MergeResults();
    const prompter = new SwitchablePrompter(new VsCodePrompter(completions));
    const content = new SnapshotContentProvider(() => store.readOptions());
    const services: Services = {
      store,
      prompter,
      config,
      log,
      content,
      completions,
      results,
      merges: new Map(),
    };
    const tree = new ArtifactTree(store);
    const deployed = new DeployedView(store);
    const status = new StatusIndicator(store, deployed);
    context.subscriptions.push(
      store,
      completions,
      results,
      content,
      tree,
      status,
      new ProgressManager(store),
      registerCommands(services),
      deployed,
      registerDeployCommands(services, deployed),
      new UpdateChecker(services, config),
      log.onDidChangeLogLevel((level) => log.info(`[Main] log level ${vscode.LogLevel[level]}`)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (changed(e)) log.info(`[Main] settings ${JSON.stringify(config.snapshot())}`);
      }),
    );
    // The first discovery and checks run after activation returns: activation never hashes.
    setTimeout(() => void store.discover(), 0);
    const activationMs = performance.now() - started;
    log.info(
      `[Main] activated in ${activationMs.toFixed(1)} ms (log level ${vscode.LogLevel[log.logLevel]}, trusted ${vscode.workspace.isTrusted})`,
    );
    log.info(`[Main] settings ${JSON.stringify(config.snapshot())}`);
    return {
      store,
      tree,
      deployed,
      activationMs,
      statusBar: () => status.rendered,
      installPrompter: (answers) => prompter.install(answers),
      setFaultSpec: (spec) => store.setFaultSpec(spec),
    };
  } catch (err) {
    log.error(`[Main] activation failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void vscode.window
      .showErrorMessage(
        vscode.l10n.t('Artifact Keeper could not start: {0}. See the log for details.', String(err)),
        vscode.l10n.t('Show Log'),
      )
      .then((action) => {
        if (action) log.show(true);
      });
    throw err;
  }
}

export function deactivate(): void {}

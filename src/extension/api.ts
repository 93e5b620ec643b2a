/**
 * What `activate` returns: the extension's model and the hooks the integration tests need. It exposes
 * no way to change a collection except the commands themselves.
 */
import type { DeployedView } from './deployedView.js';
import type { Prompter } from './prompter.js';
import type { RenderedStatus } from './statusBar.js';
import type { Store } from './store.js';
import type { ArtifactTree } from './tree.js';

export interface ArtifactKeeperApi {
  readonly store: Store;
  readonly tree: ArtifactTree;
  /** The Deployed here view: the window's projects and their drift. */
  readonly deployed: DeployedView;
  /** How long `activate` took, in milliseconds (also in the log). */
  readonly activationMs: number;
  /** What the status bar item shows now. */
  statusBar(): RenderedStatus;
  /** Installs the answers of a test script for every UI question (undefined: back to VS Code's UI). */
  installPrompter(prompter: Prompter | undefined): void;
  /** Makes the IO of later operations fail as `op:nth:ERRNO[:path]` says (tests only; undefined: off). */
  setFaultSpec(spec: string | undefined): void;
}

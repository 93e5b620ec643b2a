/**
 * The entry of `dist/checkWorker.js`, the worker thread the store's consistency checks run in (see the
 * core's `status/checker.ts`). It runs outside the extension host's API: it must never import `vscode`.
 */
import { serveCollectionChecks } from '../core/index.js';

serveCollectionChecks();

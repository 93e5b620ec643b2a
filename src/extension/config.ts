/**
 * Typed access to the `artifactKeeper.*` settings declared in package.json. Values are read on demand,
 * never cached, so a change applies at the next use; the core never reads settings itself.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Retention, Strategy } from '../core/index.js';

export interface Settings {
  defaultStrategy: Strategy;
  autoUndo: boolean;
  'retention.keep': number;
  /** 0: no age rule (exactly the newest `retention.keep`). */
  'retention.maxAgeDays': number;
  /** Minutes; 0 turns the background check off. */
  checkInterval: number;
  extraCollections: string[];
}

const DEFAULTS: Settings = {
  defaultStrategy: 'merge',
  autoUndo: true,
  'retention.keep': 20,
  'retention.maxAgeDays': 0,
  checkInterval: 60,
  extraCollections: [],
};

export const SECTION = 'artifactKeeper';

export class Config {
  get<K extends keyof Settings>(key: K, scope?: vscode.Uri): Settings[K] {
    return vscode.workspace.getConfiguration(SECTION, scope).get<Settings[K]>(key, DEFAULTS[key]);
  }

  /** The retention every snapshot-creating operation on the collection at `scope` applies, as the core takes it. */
  retention(scope?: vscode.Uri): Retention {
    const keep = this.get('retention.keep', scope);
    const maxAgeDays = this.get('retention.maxAgeDays', scope);
    return {
      keep: Number.isInteger(keep) && keep >= 1 ? keep : DEFAULTS['retention.keep'],
      ...(typeof maxAgeDays === 'number' && maxAgeDays > 0 ? { maxAgeDays } : {}),
    };
  }

  /** Extra collection folders from the setting, absolute, with `~` expanded. */
  extraCollectionDirs(): string[] {
    return this.get('extraCollections')
      .filter((entry) => typeof entry === 'string' && entry.trim() !== '')
      .map((entry) => {
        const text = entry.trim();
        const expanded =
          text === '~' || text.startsWith('~/') ? path.join(os.homedir(), text.slice(1)) : text;
        return path.resolve(expanded);
      });
  }

  /** Everything, for the log at start-up and on change. */
  snapshot(): Settings {
    const all = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof Settings)[])
      (all as Record<string, unknown>)[key] = this.get(key);
    return all;
  }
}

/** True when the change touches any of `keys` (or any of our settings when none are named). */
export function changed(event: vscode.ConfigurationChangeEvent, ...keys: (keyof Settings)[]): boolean {
  if (keys.length === 0) return event.affectsConfiguration(SECTION);
  return keys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

/**
 * The CLI's folder in the user's cache (XDG on Linux, the platform's own elsewhere): the V8 code cache of
 * the bundle (launcher.ts) and the remembered git versions (core/ports/gitVersionMemo.ts). Derived data
 * only: removing the folder costs the next command a compile and a `git --version`. Only Node built-ins,
 * since the launcher that imports it is bundled alone.
 */
import * as os from 'node:os';
import * as path from 'node:path';

export function cliCacheFolder(): string {
  const env = process.env;
  const root =
    process.platform === 'win32'
      ? (env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local'))
      : process.platform === 'darwin'
        ? path.join(os.homedir(), 'Library', 'Caches')
        : env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
          ? env.XDG_CACHE_HOME
          : path.join(os.homedir(), '.cache');
  return path.join(root, 'artifact-keeper');
}

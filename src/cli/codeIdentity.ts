/**
 * What identifies the code running: the file it was loaded from (the bundle, `dist/cli-main.js`), by size
 * and time. Derived data whose meaning depends on our code (the check record) is keyed on it, so a rebuilt
 * or upgraded CLI never trusts what an older one judged. When the file cannot be stat'ed, an identity of
 * this process alone (pid and time), so nothing it keys is trusted by another process.
 */
import * as fs from 'node:fs';

let identity: string | undefined;

export function codeIdentity(): string {
  if (identity === undefined) {
    try {
      const st = fs.statSync(__filename);
      identity = `${__filename}:${st.size}:${st.mtimeMs}`;
    } catch {
      identity = `unknown:${process.pid}:${Date.now()}`;
    }
  }
  return identity;
}

// Bundles the entry points: the VS Code extension (vscode stays external), the worker thread its
// consistency checks run in (no vscode there), and the CLI.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import { isBuiltin } from 'node:module';

const production = process.argv.includes('--production');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  logLevel: 'warning',
  // simple-git pulls in optional debug output through `debug`; nothing else is external.
  external: ['vscode'],
};

/**
 * esbuild turns every `import * as fs from 'node:fs'` into `__toESM(require("node:fs"))`, which copies
 * each of the module's properties into a new object: ~130 such copies of the same dozen built-ins cost
 * more at start-up than compiling the bundle. A built-in is complete when required, so its copy is made
 * once and shared (`__toESB`, same length as `__toESM`, so the source map's columns stay right).
 */
async function shareBuiltinNamespaces(file) {
  const text = fs.readFileSync(file, 'utf8');
  let shared = 0;
  const rewritten = text.replace(/__toESM\(require\("([^"]+)"\)/g, (call, name) => {
    if (!isBuiltin(name)) return call;
    shared++;
    return `__toESB(require("${name}")`;
  });
  if (shared === 0 && !production) return;
  if (!/^var __toESM = /m.test(text)) throw new Error(`${file}: esbuild's __toESM helper not found`);
  // A function declaration is hoisted: appended at the end, nothing above it moves.
  const helper =
    'function __toESB(mod, isNodeMode) {\n' +
    '  const cache = (__toESB.cache ??= [new WeakMap(), new WeakMap()])[isNodeMode ? 1 : 0];\n' +
    '  let ns = cache.get(mod);\n' +
    '  if (ns === undefined) cache.set(mod, (ns = __toESM(mod, isNodeMode)));\n' +
    '  return ns;\n' +
    '}\n';
  const mapLine = rewritten.lastIndexOf('\n//# sourceMappingURL=');
  const at = mapLine === -1 ? rewritten.length : mapLine + 1;
  const result = shared === 0 ? rewritten : rewritten.slice(0, at) + helper + rewritten.slice(at);
  // Minified after the rewrite, which needs esbuild's helper names (production has no source map).
  const minified = production
    ? (await esbuild.transform(result, { minify: true, target: 'node20' })).code
    : result;
  fs.writeFileSync(file, minified);
}

await Promise.all([
  esbuild.build({ ...common, entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension.js' }),
  esbuild.build({ ...common, entryPoints: ['src/extension/checkWorker.ts'], outfile: 'dist/checkWorker.js' }),
  // The CLI is two files: the bundle, and `dist/cli.js` (the bin), which runs it through a V8 code cache.
  esbuild.build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli-main.js' }),
  esbuild.build({
    ...common,
    sourcemap: false,
    entryPoints: ['src/cli/launcher.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
  }),
]);
for (const file of ['dist/extension.js', 'dist/checkWorker.js', 'dist/cli-main.js', 'dist/cli.js'])
  await shareBuiltinNamespaces(file);

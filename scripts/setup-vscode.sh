#!/usr/bin/env bash
# Installs what the integration and e2e tests need to run the extension in a real VS Code:
#   - code-server@4.100.3 (VS Code 1.100.3 server, Node 20) into .vscode-server/ in the repo
#     (outside node_modules, so `npm ci` keeps it and package-lock.json stays untouched);
#   - Debian's chromium (driven by playwright-core), git and ripgrep (VS Code's file search,
#     which `workspaceContains:` glob activation and workspace.findFiles rely on).
# Idempotent: a marker file records a finished install; a second run takes well under a second.
# Follows shared/recipes/vscode-server-tests.md. Works as root without a TTY (CI).
# Env: CODE_SERVER_VERSION (default 4.100.3), VSCODE_SERVER_DIR (default <repo>/.vscode-server),
#      FORCE=1 to reinstall.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${CODE_SERVER_VERSION:-4.100.3}
DIR=${VSCODE_SERVER_DIR:-$ROOT/.vscode-server}
CS="$DIR/node_modules/code-server"
VSC="$CS/lib/vscode"
MARKER="$DIR/.installed-code-server-$VERSION"
export DEBIAN_FRONTEND=noninteractive

log() { echo "[setup-vscode] $*"; }

# --- system packages -------------------------------------------------------------------------
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
      log "need root (or sudo) to apt-get install: ${missing[*]}"; exit 1
    fi
  fi
  log "apt-get install ${missing[*]}"
  # Wait for a concurrent apt/dpkg (e.g. a background install) instead of failing on its lock.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

# --- code-server -----------------------------------------------------------------------------
if [ -f "$MARKER" ] && [ -f "$VSC/out/server-main.js" ] && [ "${FORCE:-0}" != 1 ]; then
  log "code-server@$VERSION already installed in $DIR"
else
  log "installing code-server@$VERSION into $DIR"
  rm -rf "$DIR"
  mkdir -p "$DIR"
  # A package.json of its own keeps npm from treating the repo as the project here.
  echo '{ "name": "vscode-server-for-tests", "private": true }' > "$DIR/package.json"
  # --ignore-scripts: as root, code-server's postinstall wants --unsafe-perm and then downloads
  # ripgrep from GitHub, which this machine cannot reach.
  npm install --prefix "$DIR" --no-save --ignore-scripts --no-audit --no-fund --loglevel=error \
    "code-server@$VERSION"
  # argon2 is a native module (builds from source with node-gyp). code-server's own wrapper needs it;
  # server-main.js, which the tests start, does not.
  (cd "$DIR" && npm rebuild argon2 --loglevel=error)
  # The VS Code server's own dependencies.
  (cd "$VSC" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  # --ignore-scripts above also skipped building the server's native modules; without them the extension
  # host logs "Cannot find module './build/Release/watchdog'" and "Could not locate the bindings file"
  # (spdlog: log files, LogOutputChannel), and the integrated terminal (node-pty) cannot start.
  # Built from source with node-gyp (about 30 s on 2 cores). Not needed: kerberos (proxy auth, needs
  # libkrb5-dev), windows-*; @parcel/watcher ships a prebuilt Linux binary.
  (cd "$VSC" && npm rebuild @vscode/spdlog native-watchdog @vscode/deviceid --loglevel=error)
  # node-pty's postinstall ends with `npx node-gyp configure -f compile_commands_json`, which npx refuses
  # to fetch (npmrc yes=false) after pty.node is built: tolerate that, then check the binary.
  (cd "$VSC" && npm rebuild node-pty --loglevel=silent >/dev/null 2>&1) || true
  for f in @vscode/spdlog/build/Release/spdlog.node native-watchdog/build/Release/watchdog.node \
           node-pty/build/Release/pty.node; do
    [ -f "$VSC/node_modules/$f" ] || { log "native module not built: $f"; exit 1; }
  done
  touch "$MARKER"
fi

# ripgrep for VS Code's search service (its npm postinstall, skipped above, would download it).
RG_BIN="$VSC/node_modules/@vscode/ripgrep/bin/rg"
if [ ! -x "$RG_BIN" ] && command -v rg >/dev/null 2>&1; then
  mkdir -p "$(dirname "$RG_BIN")"
  cp "$(command -v rg)" "$RG_BIN"
  log "copied $(command -v rg) to $RG_BIN"
fi

log "ready: $VSC/out/server-main.js, chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"

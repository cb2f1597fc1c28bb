#!/usr/bin/env node
// Builds the optional oneDNN addon (build/Release/unet_onednn.node) with node-gyp.
// On a contributor's machine it never fails the install: without oneDNN headers or a compiler it
// prints one line and exits 0, and the library then runs on the pure-JS CPU backend. Under CI
// (CI=true) or with UNET_REQUIRE_NATIVE=1 the addon is required: any failure exits 1, so a CI run
// can never pass on the fallback while claiming to test the native backend.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stdout.write(`unet-ts native backend: ${msg}\n`);
const required = process.env.CI === 'true' || process.env.UNET_REQUIRE_NATIVE === '1';
/** Ends the build without the addon: a line of explanation, and a failure where the addon is required. */
function without(reason) {
  if (required) {
    process.stderr.write(`unet-ts native backend: ${reason}\nunet-ts native backend: the addon is required here (CI=true or UNET_REQUIRE_NATIVE=1): failing.\n`);
    process.exit(1);
  }
  say(`${reason}; the pure-JS CPU backend will be used.`);
  process.exit(0);
}

if (process.env.UNET_SKIP_NATIVE === '1') without('skipped (UNET_SKIP_NATIVE=1)');
const includeDirs = [process.env.DNNL_INCLUDE_DIR, '/usr/include', '/usr/local/include', '/opt/homebrew/include'].filter(Boolean);
if (!includeDirs.some((d) => existsSync(join(d, 'dnnl.hpp')) || existsSync(join(d, 'oneapi/dnnl/dnnl.hpp')))) {
  without('oneDNN headers (dnnl.hpp) not found, not building the addon (on Debian/Ubuntu: apt-get install libdnnl-dev, then npm rebuild / npm run build:native)');
}
const gyp =
  process.env.npm_config_node_gyp ??
  [join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((p) => existsSync(p));
if (!gyp || !existsSync(gyp)) {
  without('node-gyp not found (it ships with npm)');
}
const args = [gyp, 'rebuild'];
// Use the headers of the running Node when they are installed next to it (no download needed offline).
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include/node/node_version.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  without(`node-gyp failed (exit ${r.status ?? r.signal ?? r.error?.message})`);
}
say('built build/Release/unet_onednn.node (oneDNN).');

#!/usr/bin/env node
// Builds the optional oneDNN addon (build/Release/unet_onednn.node) with node-gyp.
// Never fails the install: without oneDNN headers or a compiler it prints one line
// and exits 0, and the library then runs on the pure-JS CPU backend.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stdout.write(`unet-ts native backend: ${msg}\n`);

if (process.env.UNET_SKIP_NATIVE === '1') {
  say('skipped (UNET_SKIP_NATIVE=1); the pure-JS CPU backend will be used.');
  process.exit(0);
}
const includeDirs = [process.env.DNNL_INCLUDE_DIR, '/usr/include', '/usr/local/include', '/opt/homebrew/include'].filter(Boolean);
if (!includeDirs.some((d) => existsSync(join(d, 'dnnl.hpp')) || existsSync(join(d, 'oneapi/dnnl/dnnl.hpp')))) {
  say('oneDNN headers (dnnl.hpp) not found, not building the addon; the pure-JS CPU backend will be used. On Debian/Ubuntu: apt-get install libdnnl-dev, then npm rebuild / npm run build:native.');
  process.exit(0);
}
const gyp =
  process.env.npm_config_node_gyp ??
  [join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((p) => existsSync(p));
if (!gyp || !existsSync(gyp)) {
  say('node-gyp not found (it ships with npm); the pure-JS CPU backend will be used.');
  process.exit(0);
}
const args = [gyp, 'rebuild'];
// Use the headers of the running Node when they are installed next to it (no download needed offline).
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include/node/node_version.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  say(`node-gyp failed (exit ${r.status}); the pure-JS CPU backend will be used.`);
  process.exit(0);
}
say('built build/Release/unet_onednn.node (oneDNN).');

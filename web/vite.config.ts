/**
 * Vite config of the web app (`npm run web`, `npm run build:web`).
 *
 * Besides the page it serves and bundles:
 * - /wasm/*.wasm: the TF.js wasm backend binaries (setWasmPaths points there), so
 *   nothing is fetched from a CDN;
 * - /models/<name>/ and /models/index.json: every bundled model folder of ../models
 *   (those holding unet.json), listed for the page's model menu.
 * And one substitution: src/io/image-codecs.ts imports the Node PNG module (file I/O,
 * Buffer); in the browser that import resolves to web/src/png-browser.ts, which offers
 * the same decodePng/encodePng on pngjs's browser build.
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(WEB, '..');
const MODELS = join(ROOT, 'models');
const WASM = join(ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const MODEL_FILES = ['model.json', 'weights.bin', 'unet.json'];

interface ModelEntry {
  name: string;
  path: string;
  description?: string;
  classes?: readonly string[];
}

/** Bundled models: folders of ../models holding model.json, weights.bin and unet.json. */
function listModels(): ModelEntry[] {
  if (!existsSync(MODELS)) return [];
  return readdirSync(MODELS)
    .filter((name) => MODEL_FILES.every((f) => existsSync(join(MODELS, name, f))))
    .sort()
    .map((name) => {
      const meta = JSON.parse(readFileSync(join(MODELS, name, 'unet.json'), 'utf8')) as { description?: string; classNames?: string[] };
      return { name, path: `models/${name}/`, ...(meta.description ? { description: meta.description } : {}), ...(meta.classNames ? { classes: meta.classNames } : {}) };
    });
}

/** Files under `dir`, relative, with forward slashes. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? walk(dir, rel) : [rel];
  });
}

const MIME: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream', '.wasm': 'application/wasm' };

function assets(): Plugin {
  let outDir = join(WEB, 'dist');
  return {
    name: 'unet-assets',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]!);
        let file: string | null = null;
        if (url === '/models/index.json') {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ models: listModels() }));
          return;
        }
        if (url.startsWith('/models/')) file = normalize(join(MODELS, url.slice('/models/'.length)));
        else if (url.startsWith('/wasm/')) file = normalize(join(WASM, url.slice('/wasm/'.length)));
        const base = file?.startsWith(MODELS + sep) ? MODELS : WASM;
        if (!file || !file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) return next();
        res.setHeader('Content-Type', MIME[extname(file)] ?? 'application/octet-stream');
        createReadStream(file).pipe(res);
      });
    },
    writeBundle() {
      mkdirSync(join(outDir, 'wasm'), { recursive: true });
      for (const f of WASM_FILES) copyFileSync(join(WASM, f), join(outDir, 'wasm', f));
      const models = listModels();
      mkdirSync(join(outDir, 'models'), { recursive: true });
      for (const m of models) {
        mkdirSync(join(outDir, 'models', m.name), { recursive: true });
        for (const f of MODEL_FILES) copyFileSync(join(MODELS, m.name, f), join(outDir, 'models', m.name, f));
      }
      writeFileSync(join(outDir, 'models', 'index.json'), `${JSON.stringify({ models }, null, 2)}\n`);
      // The app files for the service worker's offline copy (models are cached when first used).
      const files = ['./', 'models/index.json', ...walk(outDir).filter((f) => !f.startsWith('models/') && f !== 'sw.js' && f !== 'precache.json')];
      writeFileSync(join(outDir, 'precache.json'), `${JSON.stringify({ files }, null, 2)}\n`);
    },
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        if (ctx.server) return html; // the dev server needs its websocket and inline modules
        // No request may leave this origin: the page talks only to its own files.
        const csp = "default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'self'";
        return html.replace('<meta charset="utf-8" />', `<meta charset="utf-8" />\n    <meta http-equiv="Content-Security-Policy" content="${csp}" />`);
      },
    },
  };
}

/** src/io/image-codecs.ts -> ./png.js (Node) becomes web/src/png-browser.ts. */
function browserPng(): Plugin {
  const codecs = join(ROOT, 'src', 'io', 'image-codecs.ts');
  return {
    name: 'unet-browser-png',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source === './png.js' && importer && normalize(importer.split('?')[0]!) === codecs) return join(WEB, 'src', 'png-browser.ts');
      return null;
    },
  };
}

export default defineConfig({
  root: WEB,
  base: './',
  publicDir: join(WEB, 'public'),
  plugins: [browserPng(), assets()],
  worker: { format: 'es', plugins: () => [browserPng()] },
  build: {
    outDir: join(WEB, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [ROOT] } },
  preview: { host: '127.0.0.1', port: 4173 },
});

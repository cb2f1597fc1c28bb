/**
 * The page: image and model input, the inference worker, display with zoom and pan,
 * downloads. Everything runs locally; the only requests go to this app's own files
 * (the page, the worker, the wasm binaries and the chosen model).
 */
// Direct module imports keep TF.js out of the page's bundle (it lives in the worker).
import { decodeImage, encodeTiff } from '../../src/io/image-codecs.js';
import type { PixelArray, Raster } from '../../src/io/raster.js';
import { labelColour, overlay } from '../../src/infer/render.js';
import type { ModelMetadata } from './lib.js';
import { encodePng } from './png-browser.js';
import type { FromWorker, ModelSource, PageData, SegmentResult, ToWorker } from './protocol.js';
import { PanZoom } from './view.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

const ui = {
  backend: $<HTMLElement>('backend'),
  modelInfo: $<HTMLElement>('model-info'),
  modelSelect: $<HTMLSelectElement>('model-select'),
  modelFolder: $<HTMLInputElement>('model-folder'),
  modelFiles: $<HTMLInputElement>('model-files'),
  drop: $<HTMLElement>('drop'),
  imageInput: $<HTMLInputElement>('image-input'),
  sliceRow: $<HTMLElement>('slice-row'),
  slice: $<HTMLInputElement>('slice'),
  sliceLabel: $<HTMLElement>('slice-label'),
  segmentAll: $<HTMLButtonElement>('segment-all'),
  imageInfo: $<HTMLElement>('image-info'),
  auto: $<HTMLInputElement>('auto'),
  run: $<HTMLButtonElement>('run'),
  stop: $<HTMLButtonElement>('stop'),
  progress: $<HTMLProgressElement>('progress'),
  status: $<HTMLElement>('status'),
  opacity: $<HTMLInputElement>('opacity'),
  style: $<HTMLSelectElement>('style'),
  colourBy: $<HTMLSelectElement>('colour-by'),
  legend: $<HTMLElement>('legend'),
  error: $<HTMLElement>('error'),
  overlay: $<HTMLCanvasElement>('overlay'),
  prob: $<HTMLCanvasElement>('prob'),
  zoomLabel: $<HTMLElement>('zoom-label'),
};

interface ImageState {
  readonly name: string;
  readonly stem: string;
  readonly pages: Raster[];
}

const state = {
  backend: null as string | null,
  metadata: null as ModelMetadata | null,
  modelName: '',
  image: null as ImageState | null,
  slice: 0,
  /** Results per slice for the current image and model. */
  results: new Map<number, SegmentResult>(),
  nextId: 1,
  /** The request in flight: its id and slice. */
  pending: null as { id: number; slice: number } | null,
  /** Slices still to segment after the pending one ("segment all"). */
  queue: [] as number[],
};

// ---------------------------------------------------------------- worker

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (msg: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(msg, transfer);
worker.onerror = (e) => fail(`The inference worker failed to start: ${e.message || 'unknown error'}`);

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'backend': {
      state.backend = msg.name;
      ui.backend.textContent = msg.name;
      ui.backend.dataset.state = 'ready';
      const skipped = msg.attempts.filter((a) => a.error).map((a) => `${a.name}: ${a.error}`);
      ui.backend.title = skipped.length ? `Skipped: ${skipped.join('\n')}` : 'first choice';
      break;
    }
    case 'model': {
      state.metadata = msg.metadata;
      const c = msg.metadata.config;
      ui.modelInfo.textContent = `model: ${msg.source.startsWith(location.origin) ? new URL(msg.source).pathname : msg.source} (depth ${c.depth}, ${c.baseFilters} filters, ${c.inputChannels === 1 ? 'gray' : 'RGB'} in, ${c.classes} classes, ${(msg.parameters / 1e6).toFixed(2)} M parameters)`;
      ui.modelInfo.dataset.state = 'ready';
      renderLegend();
      setStatus('idle', state.image ? 'Model loaded.' : 'Model loaded; now pick an image.');
      updateButtons();
      if (ui.auto.checked) segmentCurrent();
      break;
    }
    case 'progress':
      if (state.pending?.id !== msg.id) return;
      ui.progress.max = msg.tiles;
      ui.progress.value = msg.tilesDone;
      setStatus('running', `${sliceText(state.pending.slice)}tile ${msg.tilesDone} of ${msg.tiles}, about ${Math.ceil(msg.etaMs / 1000)} s left`);
      break;
    case 'result': {
      if (state.pending?.id !== msg.id) return; // an answer for an image or model replaced meanwhile
      const slice = state.pending.slice;
      state.pending = null;
      state.results.set(slice, msg);
      ui.progress.value = ui.progress.max;
      setStatus('done', `${sliceText(slice)}done in ${(msg.elapsedMs / 1000).toFixed(1)} s on ${msg.backend}: ${msg.tiles} tile(s) of ${msg.tile} px${msg.tta ? ' (8 flips/rotations averaged, as the model chose)' : ''}, ${msg.instanceCount} object(s)`);
      if (slice === state.slice) render();
      next();
      break;
    }
    case 'error':
      if (msg.stage === 'segment') {
        if (msg.id !== undefined && state.pending?.id !== msg.id) return;
        state.pending = null;
        state.queue = [];
      }
      if (msg.stage === 'load') {
        state.metadata = null;
        ui.modelInfo.textContent = 'no model';
        delete ui.modelInfo.dataset.state;
      }
      if (msg.stage === 'init') {
        ui.backend.textContent = 'none';
        ui.backend.dataset.state = 'error';
      }
      fail(`${{ init: 'Starting TensorFlow.js', load: 'Loading the model', segment: 'Segmentation' }[msg.stage]} failed: ${msg.message}`);
      break;
  }
  updateButtons();
};

const params = new URLSearchParams(location.search);
send({ type: 'init', wasmBase: new URL('wasm/', document.baseURI).href, ...(params.get('backend') ? { backend: params.get('backend')! } : {}) });

// ---------------------------------------------------------------- status and errors

function setStatus(kind: 'idle' | 'loading' | 'running' | 'done' | 'error', text: string): void {
  ui.status.dataset.state = kind;
  ui.status.textContent = text;
}

function fail(message: string): void {
  ui.error.hidden = false;
  ui.error.textContent = message;
  setStatus('error', 'Failed; see the message below.');
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

const sliceText = (s: number): string => (state.image && state.image.pages.length > 1 ? `slice ${s + 1}/${state.image.pages.length}: ` : '');

function updateButtons(): void {
  const ready = state.backend !== null && state.metadata !== null && state.image !== null;
  ui.run.disabled = !ready || state.pending !== null;
  ui.stop.disabled = state.pending === null;
  ui.segmentAll.disabled = !ready || state.pending !== null;
  const have = state.results.has(state.slice);
  for (const id of ['dl-mask-png', 'dl-mask-tif', 'dl-instances-png', 'dl-instances-tif', 'dl-overlay-png', 'dl-prob-tif']) ($<HTMLButtonElement>(id)).disabled = !have;
  ($<HTMLButtonElement>('dl-stack-tif')).disabled = !(state.image && state.image.pages.length > 1 && state.results.size === state.image.pages.length);
}

// ---------------------------------------------------------------- model

function loadModel(source: ModelSource, label: string): void {
  clearError();
  state.metadata = null;
  state.results.clear();
  cancel();
  ui.modelInfo.textContent = `loading ${label}…`;
  setStatus('loading', `Loading model ${label}…`);
  send({ type: 'load', source }, source.kind === 'files' ? [source.weights] : []);
  render();
  updateButtons();
}

async function listBundledModels(): Promise<void> {
  try {
    const res = await fetch(new URL('models/index.json', document.baseURI));
    if (!res.ok) return;
    const index = (await res.json()) as { models?: { name: string; path: string; description?: string }[] };
    for (const m of index.models ?? []) {
      const opt = document.createElement('option');
      opt.value = new URL(m.path, document.baseURI).href;
      opt.textContent = m.name;
      if (m.description) opt.title = m.description;
      ui.modelSelect.append(opt);
    }
  } catch {
    // No index (dev server without models): the menu stays empty; loading from files still works.
  }
}

ui.modelSelect.addEventListener('change', () => {
  if (ui.modelSelect.value) loadModel({ kind: 'url', url: ui.modelSelect.value }, ui.modelSelect.selectedOptions[0]?.textContent ?? ui.modelSelect.value);
});

async function loadModelFiles(files: FileList | null): Promise<void> {
  if (!files || files.length === 0) return;
  const byName = new Map<string, File>();
  for (const f of Array.from(files)) byName.set(f.name, f);
  const missing = ['model.json', 'weights.bin', 'unet.json'].filter((n) => !byName.has(n));
  if (missing.length) {
    fail(`The chosen model is incomplete: ${missing.join(', ')} missing. A model folder holds model.json, weights.bin and unet.json.`);
    return;
  }
  const folder = (byName.get('unet.json')!.webkitRelativePath || 'model').split('/')[0] ?? 'model';
  try {
    const parse = async (n: string): Promise<unknown> => {
      try {
        return JSON.parse(await byName.get(n)!.text());
      } catch (e) {
        throw new Error(`${folder}/${n} is not valid JSON (${(e as Error).message})`, { cause: e });
      }
    };
    const source: ModelSource = { kind: 'files', name: folder, metadata: await parse('unet.json'), modelJson: await parse('model.json'), weights: await byName.get('weights.bin')!.arrayBuffer() };
    ui.modelSelect.value = '';
    loadModel(source, folder);
  } catch (e) {
    fail((e as Error).message);
  }
}
ui.modelFolder.addEventListener('change', () => void loadModelFiles(ui.modelFolder.files));
ui.modelFiles.addEventListener('change', () => void loadModelFiles(ui.modelFiles.files));

// ---------------------------------------------------------------- image

async function openImage(file: File): Promise<void> {
  clearError();
  cancel();
  let pages: Raster[];
  try {
    pages = decodeImage(new Uint8Array(await file.arrayBuffer()), file.name);
  } catch (e) {
    fail(`Cannot open ${file.name}: ${(e as Error).message}`);
    return;
  }
  const stem = file.name.replace(/\.[^.]*$/, '');
  state.image = { name: file.name, stem, pages };
  state.results.clear();
  state.slice = 0;
  const first = pages[0]!;
  ui.imageInfo.textContent = `${file.name}: ${first.width} x ${first.height}, ${first.channels} channel(s), ${first.data.constructor.name.replace('Array', '')}${pages.length > 1 ? `, ${pages.length} slices` : ''}`;
  ui.sliceRow.hidden = pages.length < 2;
  ui.slice.max = String(pages.length - 1);
  ui.slice.value = '0';
  ui.sliceLabel.textContent = pages.length > 1 ? `1 / ${pages.length}` : '';
  view.setSize(first.width, first.height);
  view.fit();
  render();
  setStatus('idle', state.metadata ? 'Image loaded.' : 'Image loaded; now choose a model.');
  updateButtons();
  if (ui.auto.checked) segmentCurrent();
}

ui.imageInput.addEventListener('change', () => {
  const f = ui.imageInput.files?.[0];
  if (f) void openImage(f);
});
for (const ev of ['dragenter', 'dragover'] as const) {
  document.addEventListener(ev, (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
}
document.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void openImage(f);
});

ui.slice.addEventListener('input', () => {
  if (!state.image) return;
  state.slice = Number(ui.slice.value);
  ui.sliceLabel.textContent = `${state.slice + 1} / ${state.image.pages.length}`;
  const p = state.image.pages[state.slice]!;
  view.setSize(p.width, p.height);
  render();
  updateButtons();
  if (ui.auto.checked && !state.results.has(state.slice) && state.pending?.slice !== state.slice) {
    state.queue = [];
    if (state.pending) {
      state.queue = [state.slice];
    } else segmentCurrent();
  }
});

// ---------------------------------------------------------------- segmentation

function segment(slice: number): void {
  const img = state.image;
  if (!img || !state.metadata || state.backend === null) return;
  const page = img.pages[slice]!;
  const id = state.nextId++;
  state.pending = { id, slice };
  // A copy goes to the worker (transferred), the page keeps its own for display.
  const data = page.data.slice() as PixelArray;
  const msg: PageData = { data, height: page.height, width: page.width, channels: page.channels, name: img.pages.length > 1 ? `${img.name} slice ${slice + 1}` : img.name };
  ui.progress.value = 0;
  setStatus('running', `${sliceText(slice)}segmenting…`);
  send({ type: 'segment', id, page: msg, memoryMB: 256 }, [data.buffer as ArrayBuffer]);
  updateButtons();
}

function segmentCurrent(): void {
  if (state.pending || state.results.has(state.slice)) return;
  segment(state.slice);
}

function next(): void {
  const s = state.queue.shift();
  if (s !== undefined) {
    if (state.results.has(s)) next();
    else segment(s);
  }
}

function cancel(): void {
  if (state.pending) send({ type: 'abort', id: state.pending.id });
  state.pending = null;
  state.queue = [];
}

ui.run.addEventListener('click', () => {
  clearError();
  state.results.delete(state.slice);
  segment(state.slice);
});
ui.stop.addEventListener('click', () => {
  cancel();
  setStatus('idle', 'Stopped.');
  updateButtons();
});
ui.segmentAll.addEventListener('click', () => {
  if (!state.image) return;
  clearError();
  state.queue = state.image.pages.map((_, i) => i).filter((i) => !state.results.has(i));
  next();
});

// ---------------------------------------------------------------- display

const view = new PanZoom([$('vp-overlay'), $('vp-prob')], [ui.overlay, ui.prob], (scale) => {
  ui.zoomLabel.textContent = `${Math.round(scale * 100)} %`;
});
$('zoom-in').addEventListener('click', () => view.zoomBy(1.5));
$('zoom-out').addEventListener('click', () => view.zoomBy(1 / 1.5));
$('zoom-fit').addEventListener('click', () => view.fit());
$('zoom-1').addEventListener('click', () => view.setScale(1));
for (const el of [ui.opacity, ui.style, ui.colourBy]) el.addEventListener('input', () => render());

/** The overlay as the controls ask, or the plain image. */
function overlayRaster(page: Raster<PixelArray>, r: SegmentResult | undefined): Raster<Uint8Array> {
  const style = ui.style.value;
  const mode = ui.colourBy.value === 'instances' ? 'instances' : 'classes';
  const labels: Raster<PixelArray> | null = r ? { data: mode === 'instances' ? r.instances : r.mask, height: r.height, width: r.width, channels: 1 } : null;
  const alpha = style === 'contour' || style === 'none' ? 0 : Number(ui.opacity.value);
  const contours = style === 'contour' || style === 'both';
  // overlay() with alpha 0 and no contours is the display image itself.
  const blank = { data: new Uint8Array(page.height * page.width), height: page.height, width: page.width, channels: 1 };
  return overlay(page, labels && style !== 'none' ? labels : blank, { mode, alpha, contours });
}

function draw(canvas: HTMLCanvasElement, rgb: Raster<Uint8Array>): void {
  canvas.width = rgb.width;
  canvas.height = rgb.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(rgb.width, rgb.height);
  const n = rgb.width * rgb.height;
  const c = rgb.channels;
  for (let i = 0; i < n; i++) {
    img.data[i * 4] = rgb.data[i * c]!;
    img.data[i * 4 + 1] = rgb.data[i * c + (c > 1 ? 1 : 0)]!;
    img.data[i * 4 + 2] = rgb.data[i * c + (c > 1 ? 2 : 0)]!;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function render(): void {
  const img = state.image;
  if (!img) return;
  const page = img.pages[state.slice]!;
  const r = state.results.get(state.slice);
  draw(ui.overlay, overlayRaster(page, r));
  if (r) {
    const q = new Uint8Array(r.height * r.width);
    for (let i = 0; i < q.length; i++) q[i] = Math.round(Math.min(1, Math.max(0, r.foreground[i]!)) * 255);
    draw(ui.prob, { data: q, height: r.height, width: r.width, channels: 1 });
  } else {
    draw(ui.prob, { data: new Uint8Array(page.height * page.width), height: page.height, width: page.width, channels: 1 });
  }
  view.apply();
  updateButtons();
}

function renderLegend(): void {
  ui.legend.replaceChildren();
  state.metadata?.classNames.forEach((name, c) => {
    if (c === 0) return;
    const [r, g, b] = labelColour(c, 'classes');
    const span = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.style.background = `rgb(${r},${g},${b})`;
    span.append(swatch, name);
    ui.legend.append(span);
  });
}

// ---------------------------------------------------------------- downloads

function save(bytes: Uint8Array, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Output names as `unet predict` writes them: <stem>[_zNNN]_<kind>.<ext>. */
function outName(kind: string, ext: string): string {
  const img = state.image!;
  const z = img.pages.length > 1 ? `_z${String(state.slice).padStart(3, '0')}` : '';
  return `${img.stem}${z}_${kind}.${ext}`;
}

function current(): SegmentResult {
  const r = state.results.get(state.slice);
  if (!r) throw new Error('nothing segmented yet');
  return r;
}

function guarded(fn: () => void): () => void {
  return () => {
    try {
      fn();
    } catch (e) {
      fail(`Download failed: ${(e as Error).message}`);
    }
  };
}

const maskRaster = (r: SegmentResult): Raster<Uint8Array | Uint16Array> => ({ data: r.mask, height: r.height, width: r.width, channels: 1 });
function instanceRaster(r: SegmentResult): Raster<Uint16Array> {
  if (r.instanceCount > 65535) throw new Error(`${r.instanceCount} objects do not fit 16-bit ids`);
  return { data: Uint16Array.from(r.instances), height: r.height, width: r.width, channels: 1 };
}

$('dl-mask-png').addEventListener('click', guarded(() => save(encodePng(maskRaster(current())), outName('mask', 'png'), 'image/png')));
$('dl-mask-tif').addEventListener('click', guarded(() => save(encodeTiff([maskRaster(current())]), outName('mask', 'tif'), 'image/tiff')));
$('dl-instances-png').addEventListener('click', guarded(() => save(encodePng(instanceRaster(current())), outName('instances', 'png'), 'image/png')));
$('dl-instances-tif').addEventListener('click', guarded(() => save(encodeTiff([instanceRaster(current())]), outName('instances', 'tif'), 'image/tiff')));
$('dl-overlay-png').addEventListener('click', guarded(() => save(encodePng(overlayRaster(state.image!.pages[state.slice]!, current())), outName('overlay', 'png'), 'image/png')));
$('dl-prob-tif').addEventListener(
  'click',
  guarded(() => {
    const r = current();
    const n = r.height * r.width;
    const planes = Array.from({ length: r.classes }, (_, c) => {
      const p = new Float32Array(n);
      for (let i = 0; i < n; i++) p[i] = r.probabilities[i * r.classes + c]!;
      return { data: p, height: r.height, width: r.width, channels: 1 };
    });
    save(encodeTiff(planes), outName('prob', 'tif'), 'image/tiff');
  }),
);
$('dl-stack-tif').addEventListener(
  'click',
  guarded(() => {
    const img = state.image!;
    const pages = img.pages.map((_, z) => {
      const r = state.results.get(z);
      if (!r) throw new Error(`slice ${z + 1} is not segmented yet`);
      return maskRaster(r);
    });
    save(encodeTiff(pages), `${img.stem}_mask.tif`, 'image/tiff');
  }),
);

// ---------------------------------------------------------------- start

void (async () => {
  await listBundledModels();
  const fromQuery = params.get('model');
  if (fromQuery) {
    const url = new URL(fromQuery.endsWith('/') ? fromQuery : `${fromQuery}/`, document.baseURI).href;
    loadModel({ kind: 'url', url }, fromQuery);
  } else if (ui.modelSelect.options.length > 1) {
    ui.modelSelect.selectedIndex = 1;
    ui.modelSelect.dispatchEvent(new Event('change'));
  }
})();

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  // Offline use: the service worker keeps a copy of the app (and of models once used).
  navigator.serviceWorker.register(new URL('sw.js', document.baseURI)).catch(() => undefined);
}
updateButtons();

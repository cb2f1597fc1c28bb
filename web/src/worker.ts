/**
 * Inference worker: owns TF.js, the backend and the model, so the page stays responsive
 * during overlap-tile prediction. Protocol in protocol.ts.
 */
import { Segmenter, loadModel, parameterCount, selectBackend } from './segment.js';
import type { FromWorker, ToWorker } from './protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;

let ready: Promise<unknown> = Promise.resolve();
let segmenter: Segmenter | null = null;
const running = new Map<number, AbortController>();

/** Messages are handled one after another, in order. */
scope.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'abort') {
    running.get(msg.id)?.abort();
    return;
  }
  ready = ready.then(() => handle(msg)).catch(() => undefined);
};

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init':
      try {
        const { name, attempts } = await selectBackend(msg.wasmBase, msg.backend);
        scope.postMessage({ type: 'backend', name, attempts });
      } catch (e) {
        scope.postMessage({ type: 'error', stage: 'init', message: (e as Error).message });
      }
      return;
    case 'load':
      try {
        const loaded = await loadModel(msg.source);
        segmenter?.dispose();
        segmenter = new Segmenter(loaded);
        scope.postMessage({ type: 'model', metadata: loaded.metadata, parameters: parameterCount(loaded), source: loaded.source });
      } catch (e) {
        scope.postMessage({ type: 'error', stage: 'load', message: (e as Error).message });
      }
      return;
    case 'segment': {
      if (!segmenter) {
        scope.postMessage({ type: 'error', id: msg.id, stage: 'segment', message: 'no model is loaded' });
        return;
      }
      const controller = new AbortController();
      running.set(msg.id, controller);
      try {
        const r = await segmenter.segment(
          msg.id,
          msg.page,
          msg.memoryMB,
          (p) => scope.postMessage({ type: 'progress', id: msg.id, tilesDone: p.tilesDone, tiles: p.tiles, etaMs: p.etaMs }),
          controller.signal,
        );
        scope.postMessage({ type: 'result', ...r }, [r.probabilities.buffer, r.mask.buffer, r.foreground.buffer, r.instances.buffer] as Transferable[]);
      } catch (e) {
        scope.postMessage({ type: 'error', id: msg.id, stage: 'segment', message: (e as Error).message });
      } finally {
        running.delete(msg.id);
      }
      return;
    }
  }
}

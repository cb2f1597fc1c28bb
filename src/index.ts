/** Node library API: everything in the browser entry plus file I/O and backend selection. */
export * from './browser.js';
export { readPng, writePng, decodePng, encodePng } from './io/png.js';
export { saveModel, loadModel } from './io/model-files.js';
export { writeFileAtomic } from './io/atomic.js';
export { initBackend, activeBackend, type BackendInfo } from './backend/index.js';

/**
 * The library API the web app uses, in one place. Everything here should come from
 * src/browser.ts; the src/infer and src/io/image-codecs imports below are listed
 * separately only because browser.ts does not export them (yet). They are browser-safe
 * modules (no Node built-ins), except that image-codecs.ts imports the Node PNG module,
 * which web/vite.config.ts swaps for web/src/png-browser.ts.
 */
export * from '../../src/browser.js';
export { predict, planTiles, type PredictProgress, type Prediction } from '../../src/infer/predict.js';
export { unetPredictor, chooseTileSize, type DisposablePredictor } from '../../src/infer/predictor.js';
export { overlay, displayRgb, labelColour, probabilityPlane, quantizeProbability } from '../../src/infer/render.js';
export { instanceLabels } from '../../src/infer/instances.js';
export { decodeImage, encodeTiff, sniffFormat } from '../../src/io/image-codecs.js';

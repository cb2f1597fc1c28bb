/**
 * The README's library example, type-checked with the tests (tsconfig.test.json).
 * Run: npx tsx examples/library.ts TRAIN_IMAGES_DIR TRAIN_LABELS_DIR
 */
import { buildUNet, initBackend, loadDataset, predict, train, unetPredictor } from '../src/index.js';

const [imagesDir = 'train/images', labelsDir = 'train/labels'] = process.argv.slice(2);
await initBackend(); // 'onednn' when the addon is built, else 'cpu'
const config = { depth: 4, baseFilters: 16 }; // the paper's defaults otherwise
const samples = await loadDataset(imagesDir, labelsDir, {
  normalization: { kind: 'dtype' },
  labelMode: { mode: 'binary', threshold: 127, invert: false },
  classes: 2,
  channels: 1,
  weightMap: { w0: 10, sigma: 5 }, // Eq. 2
});
const model = buildUNet(config, 412, { seed: 1 }); // weights N(0, 2/N) from seed 1 (Sec. 3; default seed 0)
const summary = await train(model, samples, { iterations: 20, seed: 1 });
const { mask } = await predict(samples[0]!.image, unetPredictor(model, config), { outputs: { mask: true, probabilities: false } });
console.log(`final loss ${summary.finalLoss.toFixed(4)}; mask ${mask!.height}x${mask!.width}`);

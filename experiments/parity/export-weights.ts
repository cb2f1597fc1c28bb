/**
 * Writes a saved unet-ts model's weights as experiments/parity/steps.py reads them (OUT/NAME.json:
 * each weight's name and TF.js shape in layer order; OUT/NAME.bin: their float32 values), plus
 * OUT/config.json (the model's UNetConfig), for experiments/parity/predict.py.
 *
 * usage: node --import tsx experiments/parity/export-weights.ts MODEL_DIR OUT [NAME=trained]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../src/backend/index.js';
import { loadModel } from '../../src/io/model-files.js';
import { weightRecords, writeRecords } from './records.js';

const [dir, out, name = 'trained'] = process.argv.slice(2);
if (!dir || !out) throw new Error('usage: export-weights.ts MODEL_DIR OUT [NAME]');
await initBackend('cpu');
const { model, metadata } = await loadModel(dir);
const records = weightRecords(model);
mkdirSync(out, { recursive: true });
writeRecords(out, name, records);
writeFileSync(join(out, 'config.json'), JSON.stringify(metadata.config));
console.log(JSON.stringify({ weights: records.length, config: metadata.config }));

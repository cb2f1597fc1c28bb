/**
 * The file pair experiments/parity/steps.py reads tensors from: OUT/NAME.json lists each record's
 * name and TF.js shape in order, OUT/NAME.bin holds their float32 values one after another.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';

export interface TensorRecord {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** Writes `records` as OUT/NAME.json and OUT/NAME.bin. */
export function writeRecords(out: string, name: string, records: readonly TensorRecord[]): void {
  writeFileSync(join(out, `${name}.json`), JSON.stringify(records.map((r) => ({ name: r.name, shape: r.shape }))));
  writeFileSync(join(out, `${name}.bin`), Buffer.concat(records.map((r) => Buffer.from(r.values.buffer, r.values.byteOffset, r.values.byteLength))));
}

/** Every weight of `model` in layer order, as records (names as TF.js gives them, e.g. enc0_conv1/kernel). */
export function weightRecords(model: tfl.LayersModel): TensorRecord[] {
  return model.layers.flatMap((layer) => layer.weights.map((w) => ({ name: w.name, shape: w.shape as number[], values: w.read().dataSync() as Float32Array })));
}

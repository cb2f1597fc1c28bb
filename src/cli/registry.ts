/** The `unet` commands: name, entry point, help text and one-line summary (main.ts dispatches on it). */
import { infoCommand, INFO_HELP } from './commands/info.js';
import { trainCommand, TRAIN_HELP } from './commands/train.js';
import { predictCommand, PREDICT_HELP } from './commands/predict.js';
import { augmentCommand, AUGMENT_HELP } from './commands/augment.js';
import { weightsCommand, WEIGHTS_HELP } from './commands/weights.js';
import { evaluateCommand, EVALUATE_HELP } from './commands/evaluate.js';
import { quantizeCommand, QUANTIZE_HELP } from './commands/quantize.js';
import { tuneCommand, TUNE_HELP } from './commands/tune.js';
import { reportCommand, REPORT_HELP } from './commands/report.js';
import { planCommand, PLAN_HELP } from './commands/plan.js';
import { exportCommand, EXPORT_HELP } from './commands/export.js';
import { mergeInstancesCommand, MERGE_INSTANCES_HELP } from './commands/merge-instances.js';
import { instancesCommand, INSTANCES_HELP } from './commands/instances.js';

export type Command = (argv: string[]) => Promise<number>;

export const COMMANDS: Record<string, { run: Command; help: string; summary: string }> = {
  info: { run: infoCommand, help: INFO_HELP, summary: 'architecture summary, parameter count, valid sizes' },
  plan: { run: planCommand, help: PLAN_HELP, summary: 'fingerprint a dataset and plan the training (JSON for unet train --plan)' },
  train: { run: trainCommand, help: TRAIN_HELP, summary: 'train a U-Net on image/label folders' },
  augment: { run: augmentCommand, help: AUGMENT_HELP, summary: 'preview augmented image/label pairs as PNGs' },
  weights: { run: weightsCommand, help: WEIGHTS_HELP, summary: 'border weight maps (Eq. 2) as float TIFF and PNG heat map' },
  predict: { run: predictCommand, help: PREDICT_HELP, summary: 'segment images of any size (overlap-tile), write masks, probabilities, instances, overlays' },
  evaluate: { run: evaluateCommand, help: EVALUATE_HELP, summary: 'score predictions: ISBI 2012 V_rand/V_info, instance F1/AP/SEG, per-class IoU' },
  'merge-instances': { run: mergeInstancesCommand, help: MERGE_INSTANCES_HELP, summary: 'after predict --chunks: one id per object across the chunks of an OME-Zarr prediction, and the label pyramids' },
  quantize: { run: quantizeCommand, help: QUANTIZE_HELP, summary: 'copy a model with float16 weights (half the size)' },
  instances: { run: instancesCommand, help: INSTANCES_HELP, summary: "probability maps of any network -> instances by the (tuned) post-processing, optionally scored" },
  tune: { run: tuneCommand, help: TUNE_HELP, summary: 'choose the instance post-processing on validation images (stored in the model)' },
  report: { run: reportCommand, help: REPORT_HELP, summary: 'training summary of a model folder, and its curves as SVG/PNG' },
  export: { run: exportCommand, help: EXPORT_HELP, summary: 'write a model as ONNX (for Fiji/deepImageJ, napari, any ONNX runtime)' },
};

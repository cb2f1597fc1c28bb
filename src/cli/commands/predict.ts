import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseTileSize, type DisposablePredictor, type TilePredictor } from '../../infer/predictor.js';
import { disposableEnsemble } from '../../infer/ensemble.js';
import { loadEnsemble } from '../../infer/ensemble-models.js';
import { chooseEngine, openEngine } from '../../infer/engine.js';
import type { Size2 } from '../../infer/tiling.js';
import { withTestTimeAugmentation } from '../../infer/tta.js';
import { DEFAULT_INSTANCE_OPTIONS } from '../../infer/instances.js';
import { DEFAULT_PREDICT_BATCH } from '../../infer/predict.js';
import { checkOutputStems, DEFAULT_PROBABILITY_FORMAT, OUTPUT_KINDS, PROBABILITY_FORMATS, predictFile, type OutputKind, type ProbabilityFormat } from '../../infer/write-outputs.js';
import { collectImages } from '../../io/dataset.js';
import { invalidSizeMessage, isValidInputSize } from '../../model/size.js';
import { initBackend } from '../../backend/index.js';
import { isModelPackage } from '../../io/bioimageio.js';
import { MAX_SEED_EROSION } from '../../io/model-format.js';
import { predictPackageCommand } from './predict-package.js';
import { CONNECTIVITY_OPTION, connectivityOption, decodeOptionsFrom, intOption, MAX_PIXELS_HELP, MAX_PIXELS_OPTION, MEMORY_HELP, MEMORY_OPTION, memoryBytesOption, numberOption, optionLine, parseCommand, requireOption, UsageError } from '../args.js';
import { ProgressReporter } from '../progress.js';
import { EVALUATE_OPTIONS, evaluationOptions, runEvaluation } from './evaluate.js';
import { predictZarrCommand, wantsZarr, ZARR_HELP, ZARR_OPTIONS } from './predict-zarr.js';

export const PREDICT_HELP = `unet predict [--model DIR|NAME] --out DIR [options] IMAGE_OR_DIR...

Segments images of any size by overlap-tile prediction (mirrored context at the borders).
Reads PNG, JPEG and TIFF (multi-page stacks slice by slice; outputs get _zNNN).
Big TIFFs (tiled, BigTIFF, pyramidal, or over 32 MP a page) are read band by band, never whole:
mask and prob go to strip-written <stem>_mask.tif and <stem>_prob.tif (no overlay; instances: --ome-zarr).
Every input is processed; each output is written atomically and the --out folder is created
with the first one. Inputs that fail are listed at the end and the exit status is 1. Two
inputs with the same file stem are refused before anything runs (their outputs would clash).
  --model DIR|NAME     model folder, or a bundled model: isbi (membrane, the default), nuclei;
                       A,B,C: an ensemble averaging the models' probabilities on shared tiles (same
                       depth, padding, classes, normalisation; e.g. the fold models of train --folds);
                       or a bioimage.io package (folder or .zip with onnx weights; outputs prob,mask,overlay)
  --out DIR            output folder (created)
  --outputs LIST       any of prob,mask,instances,overlay   (mask,overlay)
                         <stem>_mask.png       class index per pixel
                         <stem>_prob.tif       float32 probabilities, one page per class
                         <stem>_instances.png  16-bit object ids (connected components of the foreground)
                         <stem>_overlay.png    image with coloured mask and contours
${optionLine('--prob-format F', `${PROBABILITY_FORMATS.join(' | ')} (png: <stem>_prob_<class>.png per class)`, DEFAULT_PROBABILITY_FORMAT)}
  --tile N             input tile size (default: the largest that fits --memory and the image needs)
${MEMORY_HELP}
${optionLine('--batch N', 'tiles per forward pass', DEFAULT_PREDICT_BATCH)}
  --tta                average over the 8 flips/rotations (Sec. 3.3: 7 rotated versions for ISBI); the
                       default is the model's (unet.json "inference", chosen by unet tune: on where it paid)
  --no-tta             one pass per tile, whatever the model's choice
Instances use the model's stored post-processing (unet.json "postprocess", chosen by unet tune or at
the end of training); without one, connected components of the foreground. These options override it:
  --foreground LIST    classes (indices or names) that form objects for instances   (all but class 0)
  --watershed          split touching objects by a watershed on the foreground (or seed-class) probability
  --no-watershed       connected components only, even if the model stores a watershed
${optionLine('--seed-threshold P', 'watershed seeds: probability >= P', `stored, else ${DEFAULT_INSTANCE_OPTIONS.seedThreshold}`)}
${optionLine('--seed-erosion R', 'watershed seeds: only pixels more than R px inside a seed region (splits necks)', 'stored, else 0')}
${optionLine('--foreground-threshold P', 'object pixels: summed foreground probability > P; argmax: the most likely class', 'stored, else argmax')}
${optionLine('--min-size N', 'drop objects smaller than N pixels', `stored, else ${DEFAULT_INSTANCE_OPTIONS.minSize}`)}
${optionLine('--connectivity 4|8', 'pixel neighbourhood of objects (components and watershed)', DEFAULT_INSTANCE_OPTIONS.connectivity)}
  --evaluate LABELS    then score this run's outputs against the label folder LABELS, as
                       \`unet evaluate --pred OUT --truth LABELS\`; evaluate's options apply (--mode,
                       --json, --csv, --warping-threshold, ...); membrane mode adds prob (png16)
                       to --outputs, instances mode adds instances, classes mode adds mask
${MAX_PIXELS_HELP}
Engine: ONNX Runtime (onnxruntime-node; faster than TF.js on the oneDNN addon), else TF.js on
the oneDNN backend when its addon is built, else TF.js' pure-JS backend; UNET_ENGINE=tfjs|ort
forces one.

${ZARR_HELP}`;

const BUNDLED: Record<string, string> = {
  isbi: 'isbi2012-membrane',
  membrane: 'isbi2012-membrane',
  'isbi2012-membrane': 'isbi2012-membrane',
  nuclei: 'nuclei-fluo',
  'nuclei-fluo': 'nuclei-fluo',
};
const DEFAULT_MODEL = 'isbi2012-membrane';
/** The package root: src/cli/commands (or dist/cli/commands) is three levels below it. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const PREDICT_OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  outputs: { type: 'string' },
  'prob-format': { type: 'string' },
  tile: { type: 'string' },
  ...MEMORY_OPTION,
  batch: { type: 'string' },
  tta: { type: 'boolean' },
  'no-tta': { type: 'boolean' },
  foreground: { type: 'string' },
  watershed: { type: 'boolean' },
  'no-watershed': { type: 'boolean' },
  'seed-threshold': { type: 'string' },
  'seed-erosion': { type: 'string' },
  'foreground-threshold': { type: 'string' },
  'min-size': { type: 'string' },
  ...CONNECTIVITY_OPTION,
  evaluate: { type: 'string' },
  ...EVALUATE_OPTIONS,
  ...MAX_PIXELS_OPTION,
  ...ZARR_OPTIONS,
} as const;

type PredictValues = ReturnType<typeof parseCommand<typeof PREDICT_OPTIONS>>['values'];

/**
 * The file outputs, probability format, batch and memory budget from predict's flags (the
 * library defaults where absent); --evaluate adds the output its mode scores.
 */
export function predictRunOptions(values: PredictValues): { outputs: OutputKind[]; probFormat: ProbabilityFormat; batch: number; memoryBytes: number } {
  const outputs = (values.outputs ?? 'mask,overlay').split(',').map((s) => s.trim()) as OutputKind[];
  for (const o of outputs) if (!OUTPUT_KINDS.includes(o)) throw new UsageError(`--outputs: unknown output "${o}"; choose from ${OUTPUT_KINDS.join(', ')}`);
  if (values.evaluate !== undefined) evaluationOptions(values);
  // --evaluate needs the output its mode scores; per-class PNGs pair without choosing a TIFF page.
  const evalOutput: OutputKind = values.mode === 'instances' ? 'instances' : values.mode === 'classes' ? 'mask' : 'prob';
  if (values.evaluate !== undefined && !outputs.includes(evalOutput)) outputs.push(evalOutput);
  const probFormat = (values['prob-format'] ?? (values.evaluate !== undefined ? 'png16' : DEFAULT_PROBABILITY_FORMAT)) as ProbabilityFormat;
  if (!PROBABILITY_FORMATS.includes(probFormat)) throw new UsageError(`--prob-format must be ${PROBABILITY_FORMATS.join(', ')}, got "${probFormat}"`);
  const batch = intOption(values.batch, 'batch', DEFAULT_PREDICT_BATCH)!;
  if (batch < 1) throw new UsageError(`--batch must be at least 1, got ${batch}`);
  return { outputs, probFormat, batch, memoryBytes: memoryBytesOption(values.memory) };
}

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, PREDICT_OPTIONS, PREDICT_HELP);
  if (positionals.length === 0) throw new UsageError('give at least one image or folder');
  const zarrInputs = wantsZarr(values, positionals);
  const outDir = zarrInputs ? (values.out ?? '') : requireOption(values.out, 'out');
  const { outputs, probFormat, batch, memoryBytes } = predictRunOptions(values);

  if (values.model !== undefined && isModelPackage(values.model)) {
    return predictPackageCommand(values.model, await collectImages(positionals, 'predict'), { outDir, outputs: values.outputs === undefined ? ['mask', 'overlay'] : outputs, ...(values.tile ? { tile: intOption(values.tile, 'tile')! } : {}) });
  }
  const modelDirs = (values.model === undefined ? [undefined] : values.model.split(',')).map((m) => resolveModelDir(m?.trim()));
  const modelDir = modelDirs.join(',');
  const decodeOptions = decodeOptionsFrom(values['max-pixels']);
  const files = zarrInputs ? positionals : await collectImages(positionals, 'predict');
  if (!zarrInputs) checkOutputStems(files);
  const backend = await initBackend();
  const { models, metadata, metadatas } = await loadEnsemble(modelDirs);
  const choice = await chooseEngine(backend.name, process.env.UNET_ENGINE ?? 'auto');
  // One line on why the fast path is not in use: the engine's note, or else the backend's (only when TF.js runs).
  const note = choice.engine === 'tfjs' ? (choice.note ?? backend.note) : undefined;
  if (note) process.stderr.write(`unet predict: ${note}\n`);
  const engines = await Promise.all(models.map((m, k) => openEngine(choice.engine, m, metadatas[k]!)));
  const config = metadata.config;
  const tile = intOption(values.tile, 'tile');
  if (tile !== undefined && !isValidInputSize(tile, config)) throw new UsageError(`predict: ${invalidSizeMessage(tile, config, 'tile')}`);
  // Instances: the model's stored (tuned) post-processing unless an option says otherwise.
  const stored = metadata.postprocess?.instances;
  if (values.watershed && values['no-watershed']) throw new UsageError('--watershed and --no-watershed contradict each other');
  const watershed = values['no-watershed'] ? false : (values.watershed ?? stored?.watershed ?? false);
  const seedThreshold = numberOption(values['seed-threshold'], 'seed-threshold', stored?.seedThreshold ?? DEFAULT_INSTANCE_OPTIONS.seedThreshold)!;
  const seedErosion = numberOption(values['seed-erosion'], 'seed-erosion', stored?.seedErosion ?? 0)!;
  if (!(seedErosion >= 0 && seedErosion <= MAX_SEED_EROSION)) throw new UsageError(`--seed-erosion must be a number of pixels from 0 to ${MAX_SEED_EROSION}, got ${seedErosion}`);
  const minSize = intOption(values['min-size'], 'min-size', stored?.minSize ?? DEFAULT_INSTANCE_OPTIONS.minSize)!;
  const foregroundThreshold = foregroundThresholdOption(values['foreground-threshold'], stored?.foregroundThreshold);
  const foregroundClasses = values.foreground?.split(',').map((s) => classIndex(s.trim(), metadata.classNames)) ?? stored?.foregroundClasses;
  const seedClasses = values.foreground === undefined ? stored?.seedClasses : undefined;
  const connectivity = connectivityOption(values.connectivity);

  // One predictor per tile size, built on first use (a rebuild copies the weights).
  const predictors = new Map<number, DisposablePredictor>();
  const predictorFor = (imageSize: Size2): DisposablePredictor => {
    const size = tile ?? chooseTileSize(config, memoryBytes, { batch, imageSize });
    let p = predictors.get(size);
    if (!p) {
      p = disposableEnsemble(engines.map((e) => e.predictor(size)));
      predictors.set(size, p);
    }
    return p;
  };
  if (values.tta && values['no-tta']) throw new UsageError('--tta and --no-tta contradict each other');
  // Test-time augmentation: the model's tuned choice unless a flag says otherwise.
  const tta = values['no-tta'] ? false : (values.tta ?? metadata.inference?.tta ?? false);
  const tilePredictor = (size: Size2): TilePredictor => (tta ? withTestTimeAugmentation(predictorFor(size)) : predictorFor(size));
  if (zarrInputs) {
    try {
      return await predictZarrCommand({
        values, inputs: files, outDir: values.out, modelDirs, normalization: metadata.normalization, classNames: metadata.classNames,
        predictorFor: tilePredictor, tta, log: (l) => process.stderr.write(`${l}\n`), ...(foregroundClasses ? { foregroundClasses } : {}),
        instances: { watershed, seedThreshold, seedErosion, minSize, connectivity, ...(seedClasses ? { seedClasses } : {}), ...(foregroundThreshold !== undefined ? { foregroundThreshold } : {}) },
      });
    } finally {
      for (const p of predictors.values()) p.dispose();
      for (const e of engines) await e.dispose();
      for (const m of models) m.dispose();
    }
  }
  const progress = new ProgressReporter();
  process.stderr.write(`unet predict: ${files.length} image(s), model ${modelDir}, ${choice.engine === 'ort' ? 'engine onnxruntime' : `backend ${backend.name}`}${tta ? `, test-time augmentation${values.tta ? '' : " (the model's tuned choice; --no-tta for one pass)"}` : ''}\n`);
  const failures: string[] = [];
  const written: string[] = [];
  try {
    for (const file of files) {
      let result: Awaited<ReturnType<typeof predictFile>>;
      try {
        result = await predictFile(file, tilePredictor, {
          outDir,
          outputs,
          normalization: metadata.normalization,
          classNames: metadata.classNames,
          probFormat,
          ...decodeOptions,
          batchSize: batch,
          watershed,
          instanceOptions: watershed ? { minSize, seedThreshold, seedErosion, connectivity } : { minSize, connectivity },
          ...(foregroundClasses ? { foregroundClasses } : {}),
          ...(seedClasses ? { seedClasses } : {}),
          ...(foregroundThreshold !== undefined ? { foregroundThreshold } : {}),
          onProgress: (p) => {
            const page = p.pages > 1 ? ` page ${p.page + 1}/${p.pages}` : '';
            progress.update({ done: p.tilesDone, total: p.tiles, text: `tiles ${file}${page}`, etaMs: p.etaMs });
          },
        });
      } catch (e) {
        // One bad file does not stop the batch; its outputs were removed by predictFile.
        const text = (e as Error).message;
        const message = text.includes(file) ? text : `${file}: ${text}`;
        failures.push(message);
        process.stderr.write(`unet predict: ${message}\n`);
        continue;
      }
      written.push(...result.written);
      const counts = result.instanceCounts ? ` (${result.instanceCounts.join(', ')} objects)` : '';
      process.stdout.write(`${file}: ${result.written.join(' ')}${counts}\n`);
      for (const n of result.notWritten ?? []) process.stderr.write(`unet predict: note: ${n}\n`);
    }
  } finally {
    for (const p of predictors.values()) p.dispose();
    for (const e of engines) await e.dispose();
    for (const m of models) m.dispose();
  }
  if (failures.length) {
    process.stderr.write(`unet predict: ${failures.length} of ${files.length} input(s) failed, their outputs are not written:\n${failures.map((m) => `  ${m}`).join('\n')}\n`);
    return 1;
  }
  if (values.evaluate !== undefined) await runEvaluation(outDir, values.evaluate, values, written);
  return 0;
}

/** Whether `name` names a bundled model (nuclei, isbi, ...) rather than a folder. */
export function isBundledModelName(name: string): boolean {
  return Object.hasOwn(BUNDLED, name);
}

/** --model: an existing folder, a bundled model's name, or (absent) the bundled default. */
export function resolveModelDir(model: string | undefined): string {
  if (model !== undefined && !isBundledModelName(model)) {
    if (!existsSync(model)) throw new UsageError(`--model ${model}: no such folder, and not a bundled model (${Object.keys(BUNDLED).join(', ')})`);
    return model;
  }
  const name = model === undefined ? DEFAULT_MODEL : BUNDLED[model]!;
  const dir = join(PACKAGE_ROOT, 'models', name);
  if (!existsSync(join(dir, 'unet.json'))) {
    throw new UsageError(`no bundled model yet (looked for ${dir}); pass --model DIR with a folder written by unet train`);
  }
  return dir;
}

/**
 * --foreground-threshold: a level in [0, 1), or `argmax` (none); absent: the model's stored one.
 *
 * @example foregroundThresholdOption('0.7', undefined) === 0.7
 * @example foregroundThresholdOption('argmax', 0.7) === undefined
 * @example foregroundThresholdOption(undefined, 0.7) === 0.7
 */
export function foregroundThresholdOption(text: string | undefined, stored: number | undefined): number | undefined {
  if (text === undefined) return stored;
  if (text.trim() === 'argmax') return undefined;
  const t = Number(text);
  if (text.trim() === '' || !(t >= 0 && t < 1)) throw new UsageError(`--foreground-threshold must be a probability in [0, 1) or argmax, got "${text}"`);
  return t;
}

/** A class given by index or by one of the model's class names. */
function classIndex(s: string, names: readonly string[]): number {
  const byName = names.indexOf(s);
  if (byName >= 0) return byName;
  const n = Number(s);
  if (Number.isInteger(n) && n >= 0 && n < names.length) return n;
  throw new UsageError(`--foreground: "${s}" is neither a class index 0..${names.length - 1} nor a class name (${names.join(', ')})`);
}

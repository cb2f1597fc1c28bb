/**
 * Running a bioimage.io model package (ONNX weights) with unet-ts' overlap-tile prediction:
 * preprocessing on the whole image (its statistics must not change from tile to tile), tiles of
 * the package's allowed sizes through ONNX Runtime with the halo cropped from each output tile,
 * postprocessing on the assembled output.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, parse } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { applyProcessing, isValidTileSize, npyToRaster, openPackage, packageSpec, tileSizeFor, type ModelPackage, type PackageSpec } from '../io/bioimageio.js';
import { readNpy } from '../io/npy.js';
import { readImage, writeImage, writeTiff } from '../io/image.js';
import { toModelChannels, type PixelArray, type Raster } from '../io/raster.js';
import { createOrtSession, ortPredictor } from './ort-engine.js';
import { DEFAULT_PREDICT_BATCH, predict, type PredictOptions } from './predict.js';
import type { DisposablePredictor } from './predictor.js';
import { overlay, probabilityPlane } from './render.js';
import type { Size2 } from './tiling.js';

export interface PackageRunner {
  readonly pkg: ModelPackage;
  readonly spec: PackageSpec;
  /** A predictor for input tiles of `tile` (checked against the package's size rules); `cropHalo` false keeps the whole output. */
  predictor(tile: Size2, cropHalo?: boolean): DisposablePredictor;
  /** The tile the runner uses for an image of `imageSize` (largest side capped at `maxTile`). */
  tileFor(imageSize: Size2, maxTile?: number): Size2;
  release(): Promise<void>;
}

export interface RunnerOptions {
  /** Let the graph take any size (the package's fixed sizes become symbolic); for whole-image reference passes. */
  readonly anySize?: boolean;
  readonly threads?: number;
}

/** Opens a package (folder or .zip), checks its description and starts an ONNX Runtime session on its weights. */
export async function openPackageRunner(path: string, options: RunnerOptions = {}): Promise<PackageRunner> {
  const pkg = await openPackage(path);
  const spec = packageSpec(pkg.description, `${path}/${pkg.descriptionFile}`);
  let onnx = await pkg.readFile(spec.onnxFile);
  if (options.anySize) onnx = (await import('../export/onnx.js')).withSymbolicShapes(onnx);
  const session: InferenceSession = await createOrtSession(onnx, options.threads ? { threads: options.threads } : {});
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  if (!inputName || !outputName || session.inputNames.length !== 1) throw new Error(`${path}: ${spec.onnxFile} has inputs [${session.inputNames.join(', ')}], outputs [${session.outputNames.join(', ')}]; one input and at least one output expected`);
  const alignmentOf = (r: PackageSpec['sizeY']): number => ('step' in r ? r.step : 1);
  return {
    pkg,
    spec,
    predictor(tile, cropHalo = true) {
      for (const [i, rule] of [spec.sizeY, spec.sizeX].entries()) {
        if (!options.anySize && !isValidTileSize(rule, tile[i]!)) {
          throw new Error(`${path}: tile ${i === 0 ? 'height' : 'width'} ${tile[i]} is not allowed by inputs[0].axes[${i === 0 ? 'y' : 'x'}].size ${JSON.stringify(rule)}`);
        }
      }
      return ortPredictor(
        session,
        {
          inputName,
          outputName,
          channels: spec.channels,
          classes: spec.outputChannels,
          alignment: Math.max(1, Math.min(alignmentOf(spec.sizeY), alignmentOf(spec.sizeX))),
          outputSizeFor: (input, axis) => input + spec.outputOffset[axis === 'height' ? 0 : 1],
          inputAxes: spec.inputAxes,
          outputAxes: spec.outputAxes,
          halo: cropHalo ? spec.halo : [0, 0],
        },
        tile,
      );
    },
    tileFor([h, w], maxTile = 1024) {
      return [tileSizeFor(spec.sizeY, h, spec.halo[0], maxTile), tileSizeFor(spec.sizeX, w, spec.halo[1], maxTile)];
    },
    release: () => session.release(),
  };
}

/** Raw pixel values as float32 (bioimage.io preprocessing starts from the stored values). */
export function asFloat32(r: Raster<PixelArray>): Raster<Float32Array> {
  return { data: r.data instanceof Float32Array ? r.data : Float32Array.from(r.data), height: r.height, width: r.width, channels: r.channels };
}

/**
 * The package's output for one image (H x W x C raw values): preprocessing, tiled prediction
 * (tile: `tile` or the runner's choice), postprocessing. Returns H x W x K float32.
 */
export async function predictWithPackage(
  runner: PackageRunner,
  image: Raster<Float32Array>,
  options: Omit<PredictOptions, 'blend'> & { readonly tile?: Size2 } = {},
): Promise<Raster<Float32Array>> {
  const { spec } = runner;
  if (image.channels !== spec.channels) throw new Error(`predictWithPackage: the image has ${image.channels} channel(s), ${spec.name} takes ${spec.channels}`);
  const pre = applyProcessing(image, spec.preprocessing, 'inputs[0].preprocessing');
  const tile = options.tile ?? runner.tileFor([image.height, image.width]);
  const predictor = runner.predictor(tile);
  // Batch only where the graph has a free batch axis; the crop blend keeps each pixel from the one tile that owns it.
  const batchSize = spec.inputAxes.includes('batch') ? (options.batchSize ?? DEFAULT_PREDICT_BATCH) : 1;
  const result = await predict(pre, predictor, { ...options, batchSize, blend: 'crop', outputs: { probabilities: true, mask: false } });
  return applyProcessing(result.probabilities!, spec.postprocessing, 'outputs[0].postprocessing');
}

export type PackageOutputKind = 'prob' | 'mask' | 'overlay';

/**
 * Predicts `file` with a package and writes <stem>_prob.tif (the output channels as float32
 * pages), <stem>_mask.png (class index: argmax over channels, or value > 0.5 for one channel)
 * and <stem>_overlay.png, as requested. Returns the paths written.
 */
export async function predictFileWithPackage(
  runner: PackageRunner,
  file: string,
  options: { readonly outDir: string; readonly outputs: readonly PackageOutputKind[]; readonly tile?: Size2; readonly onProgress?: PredictOptions['onProgress'] },
): Promise<string[]> {
  const pages = await readImage(file);
  const inputs = pages.map((p, z) => toModelChannels(p, runner.spec.channels, pages.length > 1 ? `${file} (page ${z + 1})` : file));
  await mkdir(options.outDir, { recursive: true });
  const stem = parse(file).name;
  const written: string[] = [];
  try {
    for (const [z, raw] of inputs.entries()) {
      const base = join(options.outDir, pages.length > 1 ? `${stem}_z${String(z).padStart(3, '0')}` : stem);
      const out = await predictWithPackage(runner, asFloat32(raw), { ...(options.tile ? { tile: options.tile } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      const mask = maskOf(out);
      if (options.outputs.includes('prob')) {
        await writeTiff(`${base}_prob.tif`, Array.from({ length: out.channels }, (_, c) => probabilityPlane(out, c)));
        written.push(`${base}_prob.tif`);
      }
      if (options.outputs.includes('mask')) {
        await writeImage(`${base}_mask.png`, mask);
        written.push(`${base}_mask.png`);
      }
      if (options.outputs.includes('overlay')) {
        await writeImage(`${base}_overlay.png`, overlay(raw, mask, { mode: 'classes' }));
        written.push(`${base}_overlay.png`);
      }
    }
  } catch (e) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw e;
  }
  return written;
}

/** Class index per pixel: argmax over channels, or (one channel) 1 where the value exceeds 0.5. */
export function maskOf(out: Raster<Float32Array>): Raster<Uint8Array> {
  const n = out.height * out.width;
  const K = out.channels;
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (K === 1) {
      mask[i] = out.data[i]! > 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let k = 1; k < K; k++) if (out.data[i * K + k]! > out.data[i * K + best]!) best = k;
    mask[i] = Math.min(255, best);
  }
  return { data: mask, height: out.height, width: out.width, channels: 1 };
}

/**
 * Runs the package's own test: test_input through preprocessing, one pass of the graph on the
 * whole tensor (no tiling, as the package's authors computed it) and postprocessing. Returns the
 * result and the package's test_output, both as H x W x K rasters.
 */
export async function runPackageTest(runner: PackageRunner): Promise<{ output: Raster<Float32Array>; expected: Raster<Float32Array> }> {
  const { spec, pkg } = runner;
  if (!spec.testInput || !spec.testOutput) throw new Error(`${pkg.source}: the description declares no test_tensor for its input and output`);
  const input = npyToRaster(readNpy(await pkg.readFile(spec.testInput), spec.testInput), spec.inputAxes, spec.testInput);
  const expected = npyToRaster(readNpy(await pkg.readFile(spec.testOutput), spec.testOutput), spec.outputAxes, spec.testOutput);
  const pre = applyProcessing(input, spec.preprocessing, 'inputs[0].preprocessing');
  const predictor = runner.predictor([input.height, input.width], false);
  const values = await predictor.predictBatch(pre.data, 1);
  const [oh, ow] = predictor.outputShape;
  const output = applyProcessing({ data: values, height: oh, width: ow, channels: spec.outputChannels }, spec.postprocessing, 'outputs[0].postprocessing');
  return { output, expected };
}

/** `unet predict --model PACKAGE`: a bioimage.io model package run through ONNX Runtime (src/infer/bioimageio-predict.ts). */
import { openPackageRunner, predictFileWithPackage, type PackageOutputKind } from '../../infer/bioimageio-predict.js';
import { loadOrt, ortLoadError } from '../../infer/ort-engine.js';
import { UsageError } from '../args.js';
import { ProgressReporter } from '../progress.js';

const KINDS: readonly PackageOutputKind[] = ['prob', 'mask', 'overlay'];

export async function predictPackageCommand(path: string, files: readonly string[], options: { outDir: string; outputs: readonly string[]; tile?: number }): Promise<number> {
  for (const o of options.outputs) if (!(KINDS as readonly string[]).includes(o)) throw new UsageError(`--outputs: "${o}" is not available for a bioimage.io package; choose from ${KINDS.join(', ')}`);
  if (!(await loadOrt())) throw new Error(`${path}: running a bioimage.io package needs onnxruntime-node: ${ortLoadError()}`);
  const runner = await openPackageRunner(path);
  const progress = new ProgressReporter();
  process.stderr.write(`unet predict: ${files.length} image(s), bioimage.io package "${runner.spec.name}" (${path}), engine onnxruntime\n`);
  try {
    for (const file of files) {
      const written = await predictFileWithPackage(runner, file, {
        outDir: options.outDir,
        outputs: options.outputs as PackageOutputKind[],
        ...(options.tile ? { tile: [options.tile, options.tile] as const } : {}),
        onProgress: (p) => progress.update({ done: p.tilesDone, total: p.tiles, text: `tiles ${file}`, etaMs: p.etaMs }),
      });
      process.stdout.write(`${file}: ${written.join(' ')}\n`);
    }
  } finally {
    await runner.release();
  }
  return 0;
}

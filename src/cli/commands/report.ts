import { readModelMetadata } from '../../io/model-files.js';
import { writeCurves } from '../../report/curves.js';
import { historyFromMetadata, trainingReport } from '../../report/report.js';
import { parseCommand, UsageError } from '../args.js';
import { isBundledModelName, resolveModelDir } from './predict.js';

export const REPORT_HELP = `unet report MODEL [--out DIR]

Prints a trained model's summary (architecture, data, recipe, time, training and validation
losses) from its unet.json and writes the training curves (loss, validation loss and metric,
learning rate against step) as curves.svg and curves.png. MODEL is a folder written by unet
train or a bundled model's name (nuclei, isbi).
  --out DIR    where to write the plots (default: the model folder; for a bundled model, the
               current folder, so that the package's own files stay as installed)`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { out: { type: 'string' } }, REPORT_HELP);
  if (positionals.length !== 1) throw new UsageError(`give one model folder, got ${positionals.length}`);
  const bundled = isBundledModelName(positionals[0]!);
  const dir = bundled ? resolveModelDir(positionals[0]) : positionals[0]!;
  const metadata = await readModelMetadata(dir);
  process.stdout.write(`${trainingReport(metadata, dir)}\n`);
  const history = historyFromMetadata(metadata);
  if (!history) {
    process.stdout.write('curves: none (unet.json has no loss curve)\n');
    return 0;
  }
  const paths = await writeCurves(values.out ?? (bundled ? '.' : dir), history, `Training curves: ${positionals[0]!}`);
  process.stdout.write(`curves: ${paths.svg} ${paths.png}\n`);
  return 0;
}

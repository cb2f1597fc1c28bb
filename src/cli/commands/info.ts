import { resolveConfig } from '../../model/config.js';
import { countParameters } from '../../model/init.js';
import { defaultTileSize, isValidInputSize, marginPerSide, nearestValidSizes, outputSize, invalidSizeMessage, minValidInputSize } from '../../model/size.js';
import { buildUNet } from '../../model/unet.js';
import { intOption, MODEL_HELP, MODEL_OPTIONS, modelConfigFromOptions, optionLine, parseFlags, UsageError, startBackend } from '../args.js';

export const INFO_HELP = `unet info [--input N] [architecture options]

Prints the architecture (layers, output shapes, parameters), the parameter count,
the input and output sizes, the margin lost per side and the active backend.
${optionLine('--input N', `square input tile size (${defaultTileSize(resolveConfig())} for the default depth ${resolveConfig().depth})`)}
${MODEL_HELP}`;

export async function infoCommand(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { input: { type: 'string' }, ...MODEL_OPTIONS }, INFO_HELP);
  const config = resolveConfig(modelConfigFromOptions(values));
  const input = intOption(values.input, 'input') ?? defaultTileSize(config);
  if (!isValidInputSize(input, config)) throw new UsageError(invalidSizeMessage(input, config, 'input'));
  const backend = await startBackend('info');
  const model = buildUNet(config, input, { init: 'zeros' }); // only shapes and counts are printed
  const rows: string[][] = [['layer', 'type', 'output shape', 'params']];
  for (const layer of model.layers) {
    const shape = layer.outputShape as (number | null)[];
    rows.push([layer.name, layer.getClassName(), `${shape.slice(1).join('x')}`, String(layer.countParams())]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const out = process.stdout;
  for (const r of rows) out.write(`${r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}\n`);
  const convs = model.layers.filter((l) => l.getClassName().startsWith('Conv2D')).length;
  const near = nearestValidSizes(input + 1, config);
  out.write(`
U-Net: depth ${config.depth}, base filters ${config.baseFilters}, ${config.classes} classes, ${config.inputChannels} input channel(s), ${config.padding} padding, batch norm ${config.batchNorm ? 'on' : 'off'}, dropout ${config.dropout}
conv layers: ${convs}
parameters: ${countParameters(model).toLocaleString('en-US')}
input: ${input}x${input}
output: ${outputSize(input, config)}x${outputSize(input, config)}
margin per side: ${marginPerSide(config)}
smallest valid input: ${minValidInputSize(config)}; next larger valid input: ${near.above}
backend: ${backend.name}
`);
  model.dispose();
  return 0;
}

/**
 * Where a step's time goes, in the same words for both frameworks: each kernel (TF.js, from
 * bench/case.ts --profile) or op (PyTorch, self CPU time from bench/torch_unet.py --profile) is put
 * in one family of the U-Net's work. Pure functions over the names and input shapes the profilers
 * report; bench/profile.ts prints the table.
 *
 * PyTorch computes a convolution's data and weight gradients in one op (convolution_backward), so
 * the families join them; the kernel size, read from the filter's shape, tells the paper's 3x3
 * convolutions from the 2x2 up-convolutions and the final 1x1.
 */

export const FAMILIES = [
  'conv 3x3 forward',
  'conv 3x3 backward (data + weights)',
  'up-conv 2x2 (forward + backward)',
  'conv 1x1 (forward + backward)',
  'bias gradients',
  'ReLU (forward + backward)',
  'max-pool (forward + backward)',
  'crop + concat (forward + backward)',
  'dropout (forward + backward)',
  'loss (forward + backward)',
  'optimizer update',
  'other',
] as const;
export type Family = (typeof FAMILIES)[number];

export interface ProfiledOp {
  readonly name: string;
  /** The op's input shapes as its profiler reports them (null or [] for non-tensors). */
  readonly shapes: readonly (readonly number[] | null)[];
  /** Time per step, ms (PyTorch: self time, without the ops it calls). */
  readonly ms: number;
  readonly calls: number;
}

const spatial = (s: readonly number[] | null | undefined): number | undefined => (s && s.length === 4 ? s[1] : undefined);

/** 'kxk' of an HWIO (TF.js) filter. */
const hwio = (s: readonly number[] | null | undefined): number | undefined => (s && s.length === 4 ? s[0] : undefined);
/** 'kxk' of an OIHW / IOHW (PyTorch) weight. */
const oihw = (s: readonly number[] | null | undefined): number | undefined => (s && s.length === 4 ? s[2] : undefined);

function convFamily(k: number | undefined, backward: boolean): Family {
  if (k === 3) return backward ? 'conv 3x3 backward (data + weights)' : 'conv 3x3 forward';
  if (k === 2) return 'up-conv 2x2 (forward + backward)';
  if (k === 1) return 'conv 1x1 (forward + backward)';
  return 'other';
}

/**
 * The family of a TF.js kernel of our training or forward step.
 *
 * @example tfjsFamily({ name: 'FusedConv2D', shapes: [[1, 252, 252, 1], [3, 3, 1, 16], [16]], ms: 1, calls: 1 }) // 'conv 3x3 forward'
 * @example tfjsFamily({ name: 'Conv2DBackpropInput', shapes: [[1, 40, 40, 32], [2, 2, 32, 64]], ms: 1, calls: 1 }) // 'up-conv 2x2 (forward + backward)'
 * @example tfjsFamily({ name: 'Conv2DBackpropFilter', shapes: [[1, 42, 42, 16], [1, 40, 40, 16]], ms: 1, calls: 1 }) // 'conv 3x3 backward (data + weights)'
 */
export function tfjsFamily(op: ProfiledOp): Family {
  const [a, b] = op.shapes;
  switch (op.name) {
    case 'FusedConv2D':
    case 'Conv2D':
      // Conv2D with a 2x2 filter is the up-convolution's data gradient (a stride-2 convolution).
      return hwio(b) === 2 ? 'up-conv 2x2 (forward + backward)' : convFamily(hwio(b), false);
    case 'Conv2DBackpropInput':
      // The up-convolution's forward pass is this kernel too (conv2dTranspose), with its 2x2 filter.
      return convFamily(hwio(b), true);
    // UNetConv2DBackpropFilterBias: the bias gradient in the same primitive, as PyTorch's convolution_backward.
    case 'Conv2DBackpropFilter':
    case 'UNetConv2DBackpropFilterBias': {
      // Inputs (x, dy): x is 2 px wider than dy for a 3x3 valid convolution, as wide for 1x1; the
      // up-convolution's filter gradient passes (dy of the wide output, the narrow input).
      const [sx, sdy] = [spatial(a), spatial(b)];
      if (sx === undefined || sdy === undefined) return 'other';
      return sx === sdy + 2 ? 'conv 3x3 backward (data + weights)' : sx === sdy ? 'conv 1x1 (forward + backward)' : sx === 2 * sdy ? 'up-conv 2x2 (forward + backward)' : 'other';
    }
    case 'BiasAdd':
    case 'Sum':
      return 'bias gradients';
    case 'Relu':
    case 'UNetReluGrad':
      return 'ReLU (forward + backward)';
    case 'MaxPool':
    case 'MaxPoolGrad':
      return 'max-pool (forward + backward)';
    case 'Slice':
    case 'Concat':
    case 'Pad':
    case 'PadV2':
    case 'MirrorPad':
      return 'crop + concat (forward + backward)';
    case 'UNetWeightedSoftmaxCrossEntropy':
      return 'loss (forward + backward)';
    default:
      return 'other';
  }
}

/**
 * The family of a PyTorch op (its self time) in bench/torch_unet.py's step.
 *
 * @example torchFamily({ name: 'aten::mkldnn_convolution', shapes: [[1, 1, 252, 252], [16, 1, 3, 3], [16]], ms: 1, calls: 1 }) // 'conv 3x3 forward'
 * @example torchFamily({ name: 'aten::convolution_backward', shapes: [[1, 16, 248, 248], [1, 16, 250, 250], [16, 16, 3, 3]], ms: 1, calls: 1 }) // 'conv 3x3 backward (data + weights)'
 */
export function torchFamily(op: ProfiledOp): Family {
  const n = op.name.replace(/^aten::/, '');
  if (/convolution_backward|conv_transpose2d_backward|conv2d_backward/.test(n)) return convFamily(oihw(op.shapes[2]), true);
  if (/convolution|conv2d|conv_transpose/.test(n)) return convFamily(oihw(op.shapes[1]), false);
  if (/^relu|threshold_backward/.test(n)) return 'ReLU (forward + backward)';
  if (/max_pool/.test(n)) return 'max-pool (forward + backward)';
  if (/^(cat|slice|slice_backward|narrow|as_strided|copy_|zero_|zeros|empty|fill_|select)$/.test(n)) return 'crop + concat (forward + backward)';
  if (/dropout|bernoulli|^div_?$/.test(n)) return 'dropout (forward + backward)';
  if (/softmax|nll_loss|cross_entropy|^mean$|^mul$|^sum$|^item$|_local_scalar_dense|^expand$/.test(n)) return 'loss (forward + backward)';
  if (/^(add_|mul_|add|_foreach|addcmul_|zero_grad)|Optimizer/.test(n)) return 'optimizer update';
  return 'other';
}

/** Per-family totals (ms per step), every family present (0 when none of its kernels ran). */
export function familyTotals(ops: readonly ProfiledOp[], familyOf: (op: ProfiledOp) => Family): Map<Family, number> {
  const totals = new Map<Family, number>(FAMILIES.map((f) => [f, 0]));
  for (const op of ops) totals.set(familyOf(op), totals.get(familyOf(op))! + op.ms);
  return totals;
}

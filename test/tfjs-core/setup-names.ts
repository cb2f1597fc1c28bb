/**
 * The backends the tfjs-core op suite runs on (here, without setup.ts' side effects): 'onednn' as registered; 'onednn-native', the same backend with every non-empty
 * 4-D float32 tensor it is given stored natively (so that the native element-wise, slice,
 * pad, concat, split and sum kernels, which need native inputs, run on the suite's plain
 * inputs instead of falling back); 'cpu', TF.js' CPU backend as unet-ts patches it.
 */
export const SUITE_BACKENDS = ['onednn', 'onednn-native', 'cpu'] as const;
export type SuiteBackend = (typeof SUITE_BACKENDS)[number];

/**
 * Start-up self-check of the TensorFlow.js internals unet-ts relies on.
 *
 * Why: the fast paths reach into private members of TF.js 4.22.0 (the engine's gradients
 * and tape, the CPU backend's data storage, the optimizers' slots, Conv2D layer fields).
 * TF.js has had no release since 4.22.0 and package.json pins it exactly, but an override,
 * a dedupe or a future release could bring another version, where a renamed member would
 * otherwise surface as a wrong gradient or an obscure TypeError deep in training. This
 * checks each member once, where the backends are initialised, and names every missing one.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

/** The TF.js release whose internals src/ is written against (package.json pins it). */
export const TFJS_VERSION_EXPECTED = '4.22.0';

/** `present`: the key exists (its value may be null, as before a layer is built). */
export type MemberKind = 'function' | 'object' | 'number' | 'boolean' | 'string' | 'array' | 'present';

export interface MemberSpec {
  /** Property name on the subject, or a dotted path (`state.gradientDepth`). */
  readonly path: string;
  readonly kind: MemberKind;
  /** Where unet-ts uses it, for the message. */
  readonly usedBy: string;
}

/** The objects checked, each under the name used in messages. */
export type Subjects = Readonly<Record<string, unknown>>;

const LEAN = 'src/train/lean-backprop.ts';
const OPT = 'src/train/optimizers.ts';
const KERNELS = 'src/backend (onednn.ts, cpu-kernels.ts)';
const FUSE = 'src/model/fused-conv.ts';

/** Every private member unet-ts reads or replaces, per subject (keys of {@link Subjects}). */
export const TFJS_INTERNALS: Readonly<Record<string, readonly MemberSpec[]>> = {
  engine: [
    { path: 'gradients', kind: 'function', usedBy: LEAN },
    { path: 'scopedRun', kind: 'function', usedBy: LEAN },
    { path: 'startTape', kind: 'function', usedBy: LEAN },
    { path: 'endTape', kind: 'function', usedBy: LEAN },
    { path: 'tidy', kind: 'function', usedBy: LEAN },
    { path: 'runKernel', kind: 'function', usedBy: `${FUSE}, src/loss/cross-entropy.ts` },
    { path: 'state', kind: 'object', usedBy: LEAN },
    { path: 'state.gradientDepth', kind: 'number', usedBy: LEAN },
    { path: 'state.activeTape', kind: 'present', usedBy: LEAN },
    { path: 'registeredVariables', kind: 'object', usedBy: OPT },
    { path: 'registryFactory', kind: 'object', usedBy: 'src/backend/index.ts' },
    { path: 'backend', kind: 'object', usedBy: OPT },
  ],
  tapeNode: [
    { path: 'id', kind: 'number', usedBy: LEAN },
    { path: 'kernelName', kind: 'string', usedBy: LEAN },
    { path: 'inputs', kind: 'object', usedBy: LEAN },
    { path: 'outputs', kind: 'array', usedBy: LEAN },
    { path: 'gradient', kind: 'function', usedBy: LEAN },
    { path: 'saved', kind: 'array', usedBy: LEAN },
  ],
  cpuBackend: [
    { path: 'data', kind: 'object', usedBy: `${KERNELS}, ${OPT}` },
    { path: 'data.get', kind: 'function', usedBy: `${KERNELS}, ${OPT}` },
    { path: 'data.set', kind: 'function', usedBy: KERNELS },
    { path: 'data.has', kind: 'function', usedBy: KERNELS },
    { path: 'data.delete', kind: 'function', usedBy: KERNELS },
    { path: 'write', kind: 'function', usedBy: KERNELS },
    { path: 'makeTensorInfo', kind: 'function', usedBy: KERNELS },
    { path: 'disposeData', kind: 'function', usedBy: KERNELS },
    { path: 'disposeIntermediateTensorInfo', kind: 'function', usedBy: KERNELS },
    { path: 'move', kind: 'function', usedBy: KERNELS },
  ],
  cpuEntry: [
    { path: 'values', kind: 'object', usedBy: `${KERNELS}, ${OPT}` },
    { path: 'refCount', kind: 'number', usedBy: OPT },
  ],
  momentumOptimizer: [
    { path: 'accumulations', kind: 'array', usedBy: OPT },
    { path: 'm', kind: 'object', usedBy: OPT },
    { path: 'c', kind: 'object', usedBy: `${OPT}, src/train/train.ts` },
    { path: 'momentum', kind: 'number', usedBy: OPT },
    { path: 'useNesterov', kind: 'boolean', usedBy: OPT },
    { path: 'incrementIterations', kind: 'function', usedBy: OPT },
  ],
  adamOptimizer: [
    { path: 'accumulatedFirstMoment', kind: 'array', usedBy: OPT },
    { path: 'accumulatedSecondMoment', kind: 'array', usedBy: OPT },
    { path: 'accBeta1', kind: 'object', usedBy: OPT },
    { path: 'accBeta2', kind: 'object', usedBy: OPT },
    { path: 'beta1', kind: 'number', usedBy: OPT },
    { path: 'beta2', kind: 'number', usedBy: OPT },
    { path: 'epsilon', kind: 'number', usedBy: OPT },
    { path: 'learningRate', kind: 'number', usedBy: OPT },
    { path: 'incrementIterations', kind: 'function', usedBy: OPT },
  ],
  conv2dLayer: [
    { path: 'kernel', kind: 'present', usedBy: FUSE },
    { path: 'bias', kind: 'present', usedBy: FUSE },
    { path: 'padding', kind: 'string', usedBy: FUSE },
    { path: 'strides', kind: 'array', usedBy: FUSE },
    { path: 'dilationRate', kind: 'array', usedBy: FUSE },
    { path: 'dataFormat', kind: 'string', usedBy: FUSE },
    { path: 'activation.getClassName', kind: 'function', usedBy: FUSE },
    { path: 'call', kind: 'function', usedBy: FUSE },
  ],
};

function hasKind(v: unknown, kind: MemberKind): boolean {
  switch (kind) {
    case 'function':
      return typeof v === 'function';
    case 'object':
      return typeof v === 'object' && v !== null;
    case 'array':
      return Array.isArray(v);
    case 'present':
      return true;
    default:
      return typeof v === kind;
  }
}

/**
 * The members of `specs` that `subject` lacks or holds with another kind, as
 * "name.path (kind, used by ...)" strings; [] when all are there.
 *
 * Example: `missingMembers('engine', {}, [{ path: 'gradients', kind: 'function', usedBy: 'x' }])`
 * is `['engine.gradients (a function, used by x): missing']`.
 */
export function missingMembers(name: string, subject: unknown, specs: readonly MemberSpec[]): string[] {
  const problems: string[] = [];
  for (const spec of specs) {
    let v: unknown = subject;
    let found = true;
    for (const key of spec.path.split('.')) {
      if ((typeof v !== 'object' && typeof v !== 'function') || v === null || !(key in v)) {
        found = false;
        break;
      }
      v = (v as Record<string, unknown>)[key];
    }
    const article = spec.kind === 'present' ? 'a member' : spec.kind === 'array' || spec.kind === 'object' ? `an ${spec.kind}` : `a ${spec.kind}`;
    if (!found) problems.push(`${name}.${spec.path} (${article}, used by ${spec.usedBy}): missing`);
    else if (!hasKind(v, spec.kind)) problems.push(`${name}.${spec.path} (${article}, used by ${spec.usedBy}): is ${v === null ? 'null' : typeof v}`);
  }
  return problems;
}

/** Every problem of `subjects` against {@link TFJS_INTERNALS} (a subject absent from `subjects` counts as missing). */
export function checkTfjsInternals(subjects: Subjects): string[] {
  const problems: string[] = [];
  for (const [name, specs] of Object.entries(TFJS_INTERNALS)) {
    if (!(name in subjects) || subjects[name] == null) problems.push(`${name}: could not be obtained to check`);
    else problems.push(...missingMembers(name, subjects[name], specs));
  }
  return problems;
}

/** The error for `problems`, naming the expected and the installed TF.js version. */
export function tfjsInternalsError(problems: readonly string[], installed: string = tf.version_core): Error {
  return new Error(
    `unet-ts needs private members of TensorFlow.js ${TFJS_VERSION_EXPECTED}, but @tensorflow/tfjs-core ${installed} lacks ${problems.length}: ` +
      `${problems.join('; ')}. Install exactly @tensorflow/*@${TFJS_VERSION_EXPECTED} (package.json pins it; check for overrides or a duplicate copy).`,
  );
}

/**
 * The live objects to check: the engine, a tape node recorded for one multiply, a fresh
 * CPU backend and one of its entries, a Momentum and an Adam optimizer, an unbuilt
 * Conv2D layer. Everything they allocate is freed by `dispose`. Needs an active backend.
 */
export function probeTfjsInternals(): { subjects: Subjects; dispose(): void } {
  const engine = tf.engine() as unknown as {
    state: { activeTape: unknown[] | null };
    scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
    startTape(): void;
    endTape(): void;
  };
  const disposers: (() => void)[] = [];
  let tapeNode: unknown = null;
  const hasTape = typeof engine.scopedRun === 'function' && typeof engine.startTape === 'function' && typeof engine.endTape === 'function' && engine.state !== undefined;
  if (hasTape) {
    let tape: unknown[] = [];
    tf.tidy(() => {
      const x = tf.scalar(2);
      engine.scopedRun(
        () => engine.startTape(),
        () => engine.endTape(),
        () => tf.mul(x, x),
      );
      tape = Array.isArray(engine.state.activeTape) ? engine.state.activeTape : [];
      engine.state.activeTape = null;
    });
    // The tape also records the clones made for saving; the multiply's node saves both inputs.
    tapeNode = tape.find((n) => (n as { kernelName?: unknown }).kernelName === 'Multiply') ?? tape[0] ?? null;
    for (const n of tape) {
      const saved = (n as { saved?: unknown }).saved;
      if (Array.isArray(saved)) for (const t of saved) if (t instanceof tf.Tensor) disposers.push(() => t.dispose());
    }
  }
  const cpuBackend = new MathBackendCPU();
  const dataId = cpuBackend.write(new Float32Array(1), [1], 'float32');
  const cpuEntry = (cpuBackend as unknown as { data: { get?(id: object): unknown } }).data?.get?.(dataId);
  disposers.push(() => cpuBackend.dispose());
  const momentumOptimizer = new tf.MomentumOptimizer(0.1, 0.9);
  disposers.push(() => {
    momentumOptimizer.dispose();
    // TF.js 4.22's MomentumOptimizer.dispose() does not free the learning-rate scalar c.
    const c = (momentumOptimizer as unknown as { c?: tf.Tensor }).c;
    if (c && !c.isDisposed) c.dispose();
  });
  const adamOptimizer = new tf.AdamOptimizer(0.1, 0.9, 0.999);
  disposers.push(() => adamOptimizer.dispose());
  // An explicit name keeps the probe out of tfjs-layers' automatic layer names.
  const conv2dLayer = tfl.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'relu', name: 'unet_ts_tfjs_internals_probe' });
  return {
    subjects: { engine: tf.engine(), tapeNode, cpuBackend, cpuEntry, momentumOptimizer, adamOptimizer, conv2dLayer },
    dispose: () => {
      for (const d of disposers) d();
    },
  };
}

let verified = false;

/**
 * Throws, naming each missing member and the TF.js version expected, when the installed
 * TF.js lacks an internal unet-ts uses; checks once per process. Call with a backend active.
 */
export function assertTfjsInternals(): void {
  if (verified) return;
  const probe = probeTfjsInternals();
  let problems: string[];
  try {
    problems = checkTfjsInternals(probe.subjects);
  } finally {
    probe.dispose();
  }
  if (problems.length > 0) throw tfjsInternalsError(problems);
  verified = true;
}

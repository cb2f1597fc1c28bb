/**
 * SGD with momentum and Adam, updating weights and optimizer slots in place.
 *
 * Why: TF.js' optimizers run four to eight element-wise tensor ops per variable and
 * allocate a new weight and slot tensor every step. For the paper's 31M-parameter
 * net on the CPU-side backends ('cpu' and 'onednn', whose weights live in JS arrays)
 * that cost 2.7 s and about 0.75 GB of garbage per step, more than the convolutions.
 * These subclasses do the same arithmetic in one loop per variable (a parallel native
 * loop on 'onednn'), writing into the variables' own arrays, and produce bit-identical results: every intermediate is
 * rounded to float32 exactly where TF.js' CPU kernels round it (one op = one
 * Float32Array store). Slot names and getWeights()/setWeights() are TF.js' own, so
 * checkpoints are interchangeable. Whenever in-place writing is not safe (another
 * backend, a variable sharing its storage with another tensor, non-float32 data),
 * a variable takes TF.js' own tensor path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownedFloat32 } from '../backend/cpu-storage.js';

type NamedVariableMap = tf.NamedTensorMap;
type NamedGradients = NamedVariableMap | { name: string; tensor: tf.Tensor }[];

/** The Float32Array behind `t` when it may be written in place (sole owner, plain CPU storage), else null. */
function ownedValues(t: tf.Tensor): Float32Array | null {
  const name = tf.getBackend();
  if ((name !== 'cpu' && name !== 'onednn') || t.dtype !== 'float32') return null;
  return ownedFloat32((tf.engine().backend as unknown as { data: { get(id: object): unknown } }).data.get(t.dataId), t.size);
}

type NativeArg = Float32Array | number;

/** The native backend's optimizer loops (src/native/onednn.cc), bit-identical to the loops below; null elsewhere. */
interface NativeUpdates {
  momentumUpdate(value: NativeArg, accumulation: NativeArg, gradient: NativeArg, m: number, c: number): void;
  adamUpdate(value: NativeArg, m: NativeArg, v: NativeArg, gradient: NativeArg, constants: number[]): void;
}

/**
 * On 'onednn', when `gradient` or `tensors[0]` (a convolution's weights) is a natively held
 * filter: the handles of the weights and their slots `tensors[1..]`, all in the gradient's
 * layout, and the gradient's (src/backend/onednn.ts filterHandlesForUpdate). The weights then stay
 * native between steps: no reorder of them into the convolutions' layout and of their gradients
 * back to HWIO on every step. Null elsewhere.
 */
function nativeFilters(gradient: tf.Tensor, tensors: tf.Tensor[]): { handles: number[]; gradient: NativeArg } | null {
  const backend = tf.engine().backend as unknown as { filterHandlesForUpdate?(g: tf.TensorInfo, ts: readonly tf.TensorInfo[]): { handles: number[]; gradient: NativeArg } | null };
  return backend.filterHandlesForUpdate?.(gradient, tensors) ?? null;
}

function nativeUpdates(): NativeUpdates | null {
  const addon = (tf.engine().backend as unknown as { addon?: Partial<NativeUpdates> }).addon;
  return addon?.momentumUpdate && addon.adamUpdate ? (addon as NativeUpdates) : null;
}

function gradientList(g: NamedGradients): { name: string; tensor: tf.Tensor | undefined }[] {
  return Array.isArray(g) ? g.map((v) => ({ name: v.name, tensor: v.tensor })) : Object.keys(g).map((name) => ({ name, tensor: g[name] }));
}

const f32 = Math.fround;

interface MomentumInternals {
  accumulations: { originalName: string; variable: tf.Variable }[];
  m: tf.Scalar;
  c: tf.Scalar;
  momentum: number;
  useNesterov: boolean;
}

/** tf.train.momentum with in-place updates; same results, same slots. */
export class InPlaceMomentumOptimizer extends tf.MomentumOptimizer {
  override applyGradients(variableGradients: NamedGradients): void {
    const self = this as unknown as MomentumInternals;
    gradientList(variableGradients).forEach(({ name, tensor: gradient }, i) => {
      const value = tf.engine().registeredVariables[name]!;
      self.accumulations[i] ??= { originalName: `${name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      const accumulation = self.accumulations[i].variable;
      if (gradient == null) return;
      // Scalars as TF.js stores them: float32.
      const m = f32(self.momentum);
      const c = self.c.dataSync()[0]!;
      const native = nativeUpdates();
      const filters = native && !self.useNesterov ? nativeFilters(gradient, [value, accumulation]) : null;
      if (native && filters) return native.momentumUpdate(filters.handles[0]!, filters.handles[1]!, filters.gradient, m, c);
      const v = ownedValues(value);
      const a = ownedValues(accumulation);
      if (v && a && !self.useNesterov) {
        const g = gradient.dataSync() as Float32Array;
        if (native) return native.momentumUpdate(v, a, g, m, c);
        for (let k = 0; k < v.length; k++) {
          // newAccumulation = m * accumulation + gradient; value = c * newAccumulation + value (c = -lr)
          const acc = f32(f32(m * a[k]!) + g[k]!);
          a[k] = acc;
          v[k] = f32(c * acc) + v[k]!;
        }
        return;
      }
      tf.tidy(() => {
        const newAccumulation = tf.add(tf.mul(self.m, accumulation), gradient);
        const newValue = self.useNesterov
          ? tf.add(tf.mul(self.c, tf.add(gradient, tf.mul(newAccumulation, self.m))), value)
          : tf.add(tf.mul(self.c, newAccumulation), value);
        accumulation.assign(newAccumulation);
        value.assign(newValue);
      });
    });
    (this as unknown as { incrementIterations(): void }).incrementIterations();
  }
}

interface AdamInternals {
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}

/** tf.train.adam with in-place updates; same results, same slots. */
export class InPlaceAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: NamedGradients): void {
    const s = this as unknown as AdamInternals;
    tf.tidy(() => {
      const oneMinusAccBeta1 = tf.sub(1, s.accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, s.accBeta2);
      const omab1 = oneMinusAccBeta1.dataSync()[0]!;
      const omab2 = oneMinusAccBeta2.dataSync()[0]!;
      const b1 = f32(s.beta1);
      const b2 = f32(s.beta2);
      const omb1 = f32(1 - s.beta1);
      const omb2 = f32(1 - s.beta2);
      const eps = f32(s.epsilon);
      const nlr = f32(-s.learningRate);
      gradientList(variableGradients).forEach(({ name, tensor: gradient }, i) => {
        const value = tf.engine().registeredVariables[name]!;
        s.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        s.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        if (gradient == null) return;
        const firstMoment = s.accumulatedFirstMoment[i].variable;
        const secondMoment = s.accumulatedSecondMoment[i].variable;
        const native = nativeUpdates();
        const coefficients = [b1, b2, omb1, omb2, omab1, omab2, eps, nlr];
        const filters = native ? nativeFilters(gradient, [value, firstMoment, secondMoment]) : null;
        if (native && filters) return native.adamUpdate(filters.handles[0]!, filters.handles[1]!, filters.handles[2]!, filters.gradient, coefficients);
        const w = ownedValues(value);
        const m = ownedValues(firstMoment);
        const v = ownedValues(secondMoment);
        if (w && m && v) {
          const g = gradient.dataSync() as Float32Array;
          if (native) return native.adamUpdate(w, m, v, g, coefficients);
          for (let k = 0; k < w.length; k++) {
            const gk = g[k]!;
            const mk = f32(f32(m[k]! * b1) + f32(gk * omb1));
            const vk = f32(f32(v[k]! * b2) + f32(f32(gk * gk) * omb2));
            m[k] = mk;
            v[k] = vk;
            const mHat = f32(mk / omab1);
            const vHat = f32(vk / omab2);
            w[k] = f32(f32(mHat / f32(f32(Math.sqrt(vHat)) + eps)) * nlr) + w[k]!;
          }
          return;
        }
        const newFirstMoment = tf.add(tf.mul(firstMoment, s.beta1), tf.mul(gradient, 1 - s.beta1));
        const newSecondMoment = tf.add(tf.mul(secondMoment, s.beta2), tf.mul(tf.square(gradient), 1 - s.beta2));
        const biasCorrectedFirstMoment = tf.div(newFirstMoment, oneMinusAccBeta1);
        const biasCorrectedSecondMoment = tf.div(newSecondMoment, oneMinusAccBeta2);
        firstMoment.assign(newFirstMoment);
        secondMoment.assign(newSecondMoment);
        value.assign(tf.add(tf.mul(tf.div(biasCorrectedFirstMoment, tf.add(tf.sqrt(biasCorrectedSecondMoment), s.epsilon)), -s.learningRate), value));
      });
      s.accBeta1.assign(tf.mul(s.accBeta1, s.beta1));
      s.accBeta2.assign(tf.mul(s.accBeta2, s.beta2));
    });
    (this as unknown as { incrementIterations(): void }).incrementIterations();
  }
}

/**
 * Sets the step size of an optimizer made by makeOptimizer for its next update (a learning-rate
 * schedule, src/train/schedule.ts). Momentum keeps it as the scalar -lr (SGDOptimizer's
 * setLearningRate replaces it); Adam reads its learningRate field at every update.
 */
export function setOptimizerLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  if (!(learningRate > 0)) throw new Error(`setOptimizerLearningRate: learningRate must be > 0, got ${learningRate}`);
  // Not instanceof: TF.js optimizers answer it by duck typing (every optimizer is an SGDOptimizer to it).
  const name = optimizer.getClassName();
  if (name === 'Momentum' || name === 'SGD') (optimizer as tf.SGDOptimizer).setLearningRate(learningRate);
  else if (name === 'Adam') (optimizer as unknown as AdamInternals).learningRate = learningRate;
  else throw new Error(`setOptimizerLearningRate: ${name} is not an optimizer unet-ts makes`);
}

/**
 * Backpropagation that frees memory as it goes, installed over TF.js' Engine.gradients.
 *
 * Why: TF.js 4.22 runs the whole backward pass in one tidy and disposes the tensors
 * saved for it only at the end, so every activation saved by the forward pass and every
 * intermediate gradient stays alive until the last node is done. For the paper's net on
 * a 572 tile that is two full sets of activations at once. PyTorch frees each node's
 * saved tensors and incoming gradient as soon as the node has run; this does the same.
 * Same filtered tape, same node order, same gradient functions and accumulation order as
 * TF.js' engine.gradients/backpropagateGradients, so gradients are bit-identical
 * (test/lean-backprop.test.ts). Higher-order gradients (a tape inside a tape) keep
 * TF.js' own implementation.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
  tidy<T extends tf.TensorContainer>(f: () => T): T;
  gradients: GradientsFn;
}

type GradientsFn = (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor | null, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };

/** The nodes of `tape` on a path from some x in `xs` to `y`, inputs pruned to those depending on xs (TF.js' getFilteredNodesXToY). */
function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const leadToY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => leadToY.has(o.id))) {
      for (const input of Object.values(node.inputs)) leadToY.add(input.id);
      if (Object.keys(node.inputs).length > 0) nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name]!.id)) inputs[name] = node.inputs[name]!;
    filtered.push({ ...node, inputs, outputs: node.outputs });
  }
  return filtered;
}

/**
 * TF.js' backpropagateGradients, plus: once a node is done, its incoming gradients and
 * its saved tensors are disposed unless the gradient map still refers to them (a
 * pass-through gradient) or they belong to the caller (`keep`).
 */
function leanBackprop(grads: Map<number, tf.Tensor>, tape: TapeNode[], keep: Set<tf.Tensor>, tidy: <T extends tf.TensorContainer>(f: () => T) => T): void {
  const refs = new Map<tf.Tensor, number>();
  const ref = (t: tf.Tensor, d: number): void => void refs.set(t, (refs.get(t) ?? 0) + d);
  for (const g of grads.values()) ref(g, 1);
  const set = (id: number, t: tf.Tensor): void => {
    const old = grads.get(id);
    if (old) ref(old, -1);
    grads.set(id, t);
    ref(t, 1);
  };
  const release = (t: tf.Tensor): void => {
    if (!keep.has(t) && !(refs.get(t) ?? 0)) t.dispose();
  };

  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const inputGradients = node.gradient(dys);
    for (const inputName in node.inputs) {
      if (!(inputName in inputGradients)) {
        throw new Error(`Cannot backprop through input ${inputName}. Available gradients found: ${Object.keys(inputGradients)}.`);
      }
      const dx = tidy(() => inputGradients[inputName]!());
      if (dx.dtype !== 'float32') {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} must have 'float32' dtype, but has '${dx.dtype}'`);
      }
      const x = node.inputs[inputName]!;
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      }
      const current = grads.get(x.id);
      if (current == null) {
        set(x.id, dx);
      } else {
        set(x.id, tf.add(current, dx));
        release(current);
        // TF.js leaves dx to the end of the pass; it is dead once added.
        release(dx);
      }
    }
    for (const o of node.outputs) {
      const g = grads.get(o.id);
      if (!g) continue;
      grads.delete(o.id);
      ref(g, -1);
      release(g);
    }
    for (const t of node.saved ?? []) release(t);
  }
}

let installed = false;
let enabled = true;

/**
 * Turns the lean backward pass on or off (on by default once installed); off runs TF.js'
 * own. For comparisons in tests and benchmarks.
 */
export function setLeanBackprop(on: boolean): void {
  enabled = on;
}

/** Replaces tf.engine().gradients (used by optimizers and tf.grads) with the lean version above; idempotent. */
export function installLeanBackprop(): void {
  if (installed) return;
  const engine = tf.engine() as unknown as EngineInternals;
  const original: GradientsFn = engine.gradients.bind(engine);
  engine.gradients = (f, xs, dy = null, allowNoGradients = false) => {
    if (!enabled || engine.state.gradientDepth > 0) return original(f, xs, dy, allowNoGradients);
    tf.util.assert(xs.length > 0, () => 'gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    tf.util.assert(y instanceof tf.Tensor, () => 'The result y returned by f() must be a tensor.');
    const tape = engine.state.activeTape!;
    const filtered = filterTape(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0 && xs.length > 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return engine.tidy('backward', () => {
      const grads = new Map<number, tf.Tensor>();
      const seed = dy ?? tf.ones(y.shape);
      grads.set(y.id, seed);
      const keep = new Set<tf.Tensor>(dy ? [dy] : []);
      for (const x of xs) {
        const g = grads.get(x.id);
        if (g) keep.add(g);
      }
      leanBackprop(grads, filtered, keep, (fn) => engine.tidy(fn));
      const result = xs.map((x) => grads.get(x.id)!);
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      engine.state.activeTape = null;
      return { value: y, grads: result };
    });
  };
  installed = true;
}

/**
 * Learning-rate schedules: the step size of each step as plain arithmetic on the step number.
 * The paper trains at a fixed rate (Sec. 3 names none); nnU-Net decays it polynomially to 0 over
 * the run ("poly", lr_t = lr_0 (1 - t / T)^0.9, Isensee et al. 2021), so that the last steps
 * average out the noise a batch of one tile puts into each update instead of ending on one
 * noisy step.
 */
export type LrSchedule = 'constant' | 'poly';
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'poly'];

/** nnU-Net's exponent of the polynomial decay. */
export const POLY_EXPONENT = 0.9;

/**
 * Step size of step `step` (1-based) of `iterations` under `schedule`, starting from `base`.
 * 'poly' gives step 1 the full rate and step T base (1/T)^0.9, never 0, so every step still moves.
 *
 * @example scheduledLearningRate('constant', 0.001, 500, 1000) // 0.001
 * @example scheduledLearningRate('poly', 0.001, 1, 1000)       // 0.001
 * @example scheduledLearningRate('poly', 0.001, 501, 1000)     // 0.001 * 0.5^0.9 = 0.000536
 * @example scheduledLearningRate('poly', 0.001, 1000, 1000)    // 0.001 * 0.001^0.9 = 0.00000200
 */
export function scheduledLearningRate(schedule: LrSchedule, base: number, step: number, iterations: number): number {
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`scheduledLearningRate: iterations must be a positive integer, got ${iterations}`);
  if (!Number.isInteger(step) || step < 1 || step > iterations) throw new Error(`scheduledLearningRate: step must be an integer in [1, ${iterations}], got ${step}`);
  if (schedule === 'constant') return base;
  if (schedule === 'poly') return base * Math.pow(1 - (step - 1) / iterations, POLY_EXPONENT);
  throw new Error(`scheduledLearningRate: schedule must be one of ${LR_SCHEDULES.join(', ')}, got ${String(schedule)}`);
}

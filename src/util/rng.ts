/**
 * The one source of randomness in unet-ts (rule: randomness only through a seeded
 * generator passed in). sfc32 (Chris Doty-Humphrey's Small Fast Counting generator):
 * 128 bits of state, passes PractRand, and its state is four uint32 so it can be
 * checkpointed and restored exactly.
 *
 * @example
 *   const rng = new Rng(42);
 *   rng.uniform();   // in [0, 1)
 *   rng.normal();    // standard Gaussian
 *   const copy = Rng.fromState(rng.state()); // continues identically
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Second Box-Muller value kept for the next normal() call, or null. */
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // splitmix32 spreads a small integer seed over all 128 bits of state.
    let s = Math.trunc(seed) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Restores a generator from {@link Rng.state}; it continues the same sequence. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    [r.a, r.b, r.c, r.d] = state.words;
    r.spare = state.spare;
    return r;
  }

  state(): RngState {
    return { words: [this.a, this.b, this.c, this.d], spare: this.spare };
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    if (hi < lo) throw new Error(`Rng.int: hi (${hi}) < lo (${lo})`);
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** Gaussian with the given mean and standard deviation (Box-Muller). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** A new independent generator seeded from this one (for sub-streams). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

export interface RngState {
  readonly words: [number, number, number, number];
  readonly spare: number | null;
}

/** murmur3's 32-bit finaliser: a bijection on uint32 that spreads every input bit over the output. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The seed of sub-stream `index` of a run seeded with `seed`: a pure function of both, so
 * stream i can be made anywhere (a worker thread, a resumed run) without replaying streams
 * 0..i-1. Distinct indices of one seed give distinct seeds (fmix32 is a bijection).
 *
 * @example new Rng(streamSeed(1, 7)) // the generator of step 7 of a run with seed 1, the same in any thread or order
 */
export function streamSeed(seed: number, index: number): number {
  if (!Number.isFinite(seed) || !Number.isInteger(index) || index < 0) throw new Error(`streamSeed: seed must be finite and index a non-negative integer, got ${seed}, ${index}`);
  return fmix32((fmix32(Math.trunc(seed) >>> 0) + (index >>> 0)) >>> 0);
}

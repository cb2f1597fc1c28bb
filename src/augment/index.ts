/** Data augmentation (Sec. 3.1). */
export * from './elastic.js';
export * from './resample.js';
export * from './augment.js';

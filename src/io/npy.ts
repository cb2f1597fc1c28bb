/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0): the test tensors of bioimage.io packages.
 * Layout: magic "\x93NUMPY", major and minor version bytes, a little-endian header length
 * (2 bytes in 1.0, 4 in 2.0/3.0), an ASCII Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 512, 512), }` padded with spaces to
 * a multiple of 64 bytes and ending in '\n', then the raw values.
 */

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'bool';
export type NpyData = Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** Values in C (row-major) order. */
  readonly data: NpyData;
}

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32', '<f8': 'float64', '|u1': 'uint8', '<u1': 'uint8', '|i1': 'int8', '<i1': 'int8',
  '<u2': 'uint16', '<i2': 'int16', '<u4': 'uint32', '<i4': 'int32', '|b1': 'bool',
};
const CTOR: Record<NpyDtype, { new (buf: ArrayBuffer): NpyData; BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array, float64: Float64Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array,
  int16: Int16Array, uint32: Uint32Array, int32: Int32Array, bool: Uint8Array,
};
const WRITE_DESCR: Record<NpyDtype, string> = {
  float32: '<f4', float64: '<f8', uint8: '|u1', int8: '|i1', uint16: '<u2', int16: '<i2', uint32: '<u4', int32: '<i4', bool: '|b1',
};

/**
 * Parses .npy bytes; `source` names the file in errors.
 *
 * @throws for a bad magic, an unsupported dtype (big-endian, complex, object, strings), Fortran order, or a size mismatch.
 */
export function readNpy(bytes: Uint8Array, source = 'npy'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`readNpy: ${source} is not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new Error(`readNpy: ${source} has .npy format version ${major}.${bytes[7]}; supported: 1.0, 2.0, 3.0`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new Error(`readNpy: ${source} is truncated in its header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`readNpy: ${source} has a malformed header: ${header.trim()}`);
  const dtype = DESCR[descr];
  if (!dtype) throw new Error(`readNpy: ${source} has dtype '${descr}'; supported: ${Object.keys(DESCR).join(', ')} (little-endian)`);
  if (fortran === 'True') throw new Error(`readNpy: ${source} is in Fortran order; save it in C order (np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`readNpy: ${source} has a bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const ctor = CTOR[dtype];
  const dataStart = start + headerLen;
  const byteLen = count * ctor.BYTES_PER_ELEMENT;
  if (bytes.length - dataStart !== byteLen) throw new Error(`readNpy: ${source} holds ${bytes.length - dataStart} data bytes, shape (${shape.join(', ')}) of ${descr} needs ${byteLen}`);
  // Copy into a fresh, aligned buffer (the file's data offset need not be a multiple of the element size).
  // (Uint8Array.prototype.slice copies even for a Node Buffer, whose own slice() is a view into a shared pool.)
  const buf = Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + byteLen).buffer as ArrayBuffer;
  return { dtype, shape, data: new ctor(buf) };
}

/** .npy (version 1.0) bytes of `array`, readable by numpy.load. */
export function writeNpy(array: NpyArray): Uint8Array {
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== count) throw new Error(`writeNpy: shape (${array.shape.join(', ')}) needs ${count} values, got ${array.data.length}`);
  const expected = CTOR[array.dtype];
  if (!(array.data instanceof expected)) throw new Error(`writeNpy: dtype ${array.dtype} needs a ${expected.name}, got ${array.data.constructor.name}`);
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${WRITE_DESCR[array.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad so that magic (6) + version (2) + length (2) + header is a multiple of 64, ending in '\n'.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + array.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength), total);
  return out;
}

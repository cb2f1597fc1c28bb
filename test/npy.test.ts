/**
 * .npy reading and writing, checked against numpy (a child python3 process, where numpy is
 * installed: Debian python3-numpy, pulled in by python3-onnx) and against a real file of a
 * third-party bioimage.io package.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { skipUnless } from './helpers.js';

const PACKAGE = fileURLToPath(new URL('../../shared/specs/bioimageio/example-unet2d_nuclei_broad/', import.meta.url));
const python = ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0) ?? null;
const numpySkip = skipUnless(python ? false : 'python3 with numpy not found (install Debian python3-numpy)');
const tmp = await mkdtemp(join(tmpdir(), 'unet-npy-'));
after(async () => rm(tmp, { recursive: true, force: true }));

test('writeNpy then readNpy gives back dtype, shape and values (1-D, 3-D, empty)', () => {
  for (const a of [
    { dtype: 'float32', shape: [5], data: Float32Array.of(1.5, -2, 0, 3e-8, 1e30) },
    { dtype: 'uint16', shape: [2, 3, 1], data: Uint16Array.of(0, 1, 65535, 7, 8, 9) },
    { dtype: 'int8', shape: [0, 4], data: new Int8Array(0) },
  ] as const) {
    const back = readNpy(writeNpy(a));
    assert.equal(back.dtype, a.dtype);
    assert.deepEqual(back.shape, a.shape);
    assert.deepEqual(Array.from(back.data), Array.from(a.data));
  }
});

test('writeNpy pads the header to 64 bytes with a newline', () => {
  const bytes = writeNpy({ dtype: 'float64', shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) });
  const headerLen = bytes[8]! | (bytes[9]! << 8);
  assert.equal((10 + headerLen) % 64, 0);
  assert.equal(bytes[10 + headerLen - 1], 0x0a);
  assert.equal(bytes.length, 10 + headerLen + 32);
});

test('readNpy refuses bad input, naming the file and the problem', () => {
  assert.throws(() => readNpy(new Uint8Array(20), 'x.npy'), /readNpy: x.npy is not a .npy file/);
  const good = writeNpy({ dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) });
  assert.throws(() => readNpy(good.subarray(0, good.length - 1), 'cut.npy'), /readNpy: cut.npy holds 7 data bytes, shape \(2\) of <f4 needs 8/);
  const big = new TextDecoder('latin1').decode(good).replace("'<f4'", "'>f4'");
  assert.throws(() => readNpy(Uint8Array.from(big, (c) => c.charCodeAt(0)), 'be.npy'), /readNpy: be.npy has dtype '>f4'/);
  const fortran = new TextDecoder('latin1').decode(good).replace("'fortran_order': False", "'fortran_order': True ");
  assert.throws(() => readNpy(Uint8Array.from(fortran, (c) => c.charCodeAt(0)), 'f.npy'), /f.npy is in Fortran order/);
});

test('readNpy reads a bioimage.io test tensor written by numpy', { skip: skipUnless(readable(join(PACKAGE, 'test_input.npy'))) }, () => {
  const a = readNpy(readFileSync(join(PACKAGE, 'test_input.npy')), 'test_input.npy');
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(a.shape, [1, 1, 512, 512]);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  assert.deepEqual([lo, hi], [122, 4095], 'value range as numpy reports it');
});

test('numpy.load reads what writeNpy wrote, and readNpy reads numpy.save', { skip: numpySkip }, async () => {
  const file = join(tmp, 'a.npy');
  await writeFile(file, writeNpy({ dtype: 'int32', shape: [2, 3], data: Int32Array.of(1, -2, 3, -4, 5, 2 ** 31 - 1) }));
  const out = join(tmp, 'b.npy');
  const r = spawnSync(python!, ['-c', `import numpy as np, sys\na = np.load(sys.argv[1])\nprint(a.dtype, a.shape, a.tolist())\nnp.save(sys.argv[2], np.arange(6, dtype='<u2').reshape(3, 2) * 1000)`, file, out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'int32 (2, 3) [[1, -2, 3], [-4, 5, 2147483647]]');
  const b = readNpy(readFileSync(out), 'b.npy');
  assert.deepEqual([b.dtype, b.shape, Array.from(b.data)], ['uint16', [3, 2], [0, 1000, 2000, 3000, 4000, 5000]]);
});

function readable(path: string): string | false {
  try {
    readFileSync(path);
    return false;
  } catch {
    return `${path} not found (../shared/specs/bioimageio)`;
  }
}

/**
 * Tiled / pyramidal (Big)TIFF read by region: files written by independent writers
 * (Debian python3-tifffile: tiled BigTIFF with Deflate + horizontal predictor, an OME-style
 * pyramid in SubIFDs; Pillow/libtiff: LZW strips, RGB) must read back, region by region,
 * exactly as those libraries read the whole image.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openTiffRegions } from '../src/io/tiff-region.js';
import { pythonWith, skipUnless } from './helpers.js';

const python = pythonWith('tifffile, numpy, PIL');
const skip = skipUnless(python ? false : 'python3 with tifffile, numpy and PIL not found (Debian python3-tifffile, python3-pil)');
let dir = '';

const SCRIPT = `
import sys, numpy as np, tifffile
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(1)
a = rng.integers(0, 65535, size=(300, 200), dtype=np.uint16)
tifffile.imwrite(d + '/pred.tif', a, tile=(64, 48), compression='zlib', predictor=True, bigtiff=True)
with tifffile.TiffWriter(d + '/pyr.ome.tif', bigtiff=True) as w:
    w.write(a, tile=(64, 64), subifds=1, compression='zlib')
    w.write(a[::2, ::2], tile=(64, 64), subfiletype=1, compression='zlib')
b = rng.integers(0, 255, size=(77, 91, 3), dtype=np.uint8)
Image.fromarray(b).save(d + '/lzw.tif', compression='tiff_lzw')
f = rng.random((100, 80), dtype=np.float32)
tifffile.imwrite(d + '/float.tif', f, tile=(16, 16))
np.save(d + '/a.npy', a); np.save(d + '/b.npy', b); np.save(d + '/f.npy', f)
for n in ['pred.tif', 'pyr.ome.tif', 'float.tif']:
    open(d + '/' + n + '.raw', 'wb').write(tifffile.imread(d + '/' + n).tobytes())
# tifffile decodes LZW only with imagecodecs; Pillow (libtiff) reads it back.
open(d + '/lzw.tif.raw', 'wb').write(np.asarray(Image.open(d + '/lzw.tif')).tobytes())
open(d + '/pyr1.raw', 'wb').write(tifffile.imread(d + '/pyr.ome.tif', series=0, level=1).tobytes())
`;

before(async () => {
  if (!python) return;
  dir = await mkdtemp(join(tmpdir(), 'unet-tiffregion-'));
  execFileSync(python, ['-c', SCRIPT, dir]);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function expectRegions(file: string, rawFile: string, Ctor: Uint8ArrayConstructor | Uint16ArrayConstructor | Float32ArrayConstructor, level = 0): Promise<void> {
  const img = await openTiffRegions(join(dir, file));
  try {
    const src = img.source(0, level);
    const buf = await readFile(join(dir, rawFile));
    const whole = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / Ctor.BYTES_PER_ELEMENT);
    const { height: H, width: W, channels: C } = src;
    assert.equal(whole.length, H * W * C, `${file}: size`);
    for (const [top, left, h, w] of [[0, 0, H, W], [5, 7, 70, 50], [H - 3, W - 9, 3, 9], [63, 47, 2, 2]] as const) {
      const r = await src.readRegion(top, left, h, w);
      assert.ok(r.data instanceof Ctor, `${file}: data type`);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < C; c++) {
        const a: number | undefined = r.data[((y * w) + x) * C + c];
        const b: number | undefined = whole[(((top + y) * W) + left + x) * C + c];
        if (a !== b) assert.fail(`openTiffRegions ${file} level ${level}: region ${top},${left} ${h}x${w}: pixel (${top + y}, ${left + x}) channel ${c} is ${a}, tifffile reads ${b}`);
      }
    }
  } finally {
    await img.close();
  }
}

test('tiled BigTIFF, Deflate + horizontal predictor, 16-bit: regions equal tifffile', { skip }, () => expectRegions('pred.tif', 'pred.tif.raw', Uint16Array));
test('LZW strips, RGB 8-bit (Pillow/libtiff): regions equal Pillow', { skip }, () => expectRegions('lzw.tif', 'lzw.tif.raw', Uint8Array));
test('tiled float32: regions equal tifffile', { skip }, () => expectRegions('float.tif', 'float.tif.raw', Float32Array));
test('pyramid in SubIFDs: level 0 and level 1 equal tifffile', { skip }, async () => {
  const img = await openTiffRegions(join(dir, 'pyr.ome.tif'));
  assert.deepEqual(img.pages[0]!.map((l) => [l.height, l.width]), [[300, 200], [150, 100]]);
  assert.throws(() => img.source(0, 2), /has no page 0 level 2 \(1 page\(s\), 2 level\(s\)\)/);
  await img.close();
  await expectRegions('pyr.ome.tif', 'pyr.ome.tif.raw', Uint16Array, 0);
  await expectRegions('pyr.ome.tif', 'pyr1.raw', Uint16Array, 1);
});
test('not a TIFF: a clear error naming the file', { skip }, async () => {
  await assert.rejects(openTiffRegions(join(dir, 'a.npy')), /a\.npy is not a TIFF/);
});

test('a pyramid level of a tiled TIFF becomes an OME-Zarr store by region (what predict --ome-zarr does)', { skip }, async () => {
  const { openOmeZarrImage, writeOmeZarrFromSources } = await import('../src/io/zarr.js');
  const img = await openTiffRegions(join(dir, 'pyr.ome.tif'));
  const path = join(dir, 'pyr.ome.zarr');
  try {
    await writeOmeZarrFromSources(path, [img.source(0, 1)], { chunk: 40 });
  } finally {
    await img.close();
  }
  const z = await openOmeZarrImage(path);
  assert.deepEqual([z.height, z.width, z.channels], [150, 100, 1]);
  const got = await z.plane(0, 0).readRegion(0, 0, 150, 100);
  const buf = await readFile(join(dir, 'pyr1.raw'));
  assert.ok(got.data instanceof Uint16Array);
  assert.deepEqual(Array.from(got.data), Array.from(new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2)), 'the store holds TIFF level 1 exactly');
});

test('tiff-ifd: entries and values of hand-made classic and BigTIFF directories, either byte order', async () => {
  const { fieldValues, ifdEntries, readOffset } = await import('../src/io/tiff-ifd.js');
  // Classic little-endian: 2 entries, SHORT width 300 inline, RATIONAL (8 bytes) out of line at 1000; next IFD at 77.
  const classic = new DataView(new ArrayBuffer(2 * 12 + 4));
  classic.setUint16(0, 256, true); classic.setUint16(2, 3, true); classic.setUint32(4, 1, true); classic.setUint16(8, 300, true);
  classic.setUint16(12, 282, true); classic.setUint16(14, 5, true); classic.setUint32(16, 1, true); classic.setUint32(20, 1000, true);
  classic.setUint32(24, 77, true);
  const c = ifdEntries(new Uint8Array(classic.buffer), 2, { little: true, big: false, name: 'c.tif' });
  assert.equal(c.next, 77);
  assert.deepEqual(c.entries.map((e) => [e.tag, e.type, e.count, e.bytes, e.inline === null, e.offset]), [[256, 3, 1, 2, false, -1], [282, 5, 1, 8, true, 1000]]);
  assert.deepEqual(fieldValues(3, 1, c.entries[0]!.inline!, true, 'c.tif'), [300]);
  assert.equal(ifdEntries(new Uint8Array(classic.buffer), 2, { little: true, big: false, name: 'c.tif' }, (tag) => tag !== 282).entries.length, 1, 'keep filters tags');
  // BigTIFF big-endian: 1 entry, 3 SSHORTs (6 bytes, inline in 8), next IFD 0.
  const bigDir = new DataView(new ArrayBuffer(20 + 8));
  bigDir.setUint16(0, 339, false); bigDir.setUint16(2, 8, false); bigDir.setUint32(8, 3, false);
  bigDir.setInt16(12, -2, false); bigDir.setInt16(14, 7, false); bigDir.setInt16(16, -32768, false);
  const b = ifdEntries(new Uint8Array(bigDir.buffer), 1, { little: false, big: true, name: 'b.tif' });
  assert.equal(b.next, 0);
  assert.deepEqual(fieldValues(b.entries[0]!.type, 3, b.entries[0]!.inline!, false, 'b.tif'), [-2, 7, -32768], 'signed shorts keep their sign');
  assert.deepEqual(fieldValues(5, 1, Uint8Array.of(3, 0, 0, 0, 2, 0, 0, 0), true, 'r.tif'), [1.5], 'a RATIONAL is its quotient');
  assert.deepEqual(fieldValues(10, 1, Uint8Array.of(0xff, 0xff, 0xff, 0xfd, 0, 0, 0, 2), false, 'r.tif'), [-1.5], 'an SRATIONAL keeps its sign');
  const huge = new DataView(new ArrayBuffer(8));
  huge.setUint32(0, 2 ** 21, true);
  huge.setUint32(4, 2 ** 21, true);
  assert.throws(() => readOffset(huge, 0, true, true, 'h.tif'), /h\.tif: not a readable BigTIFF \(a 64-bit value at byte 0 exceeds 2\^53\)/);
  assert.equal(readOffset(huge, 0, true, false, 'h.tif'), 2 ** 21, 'classic offsets are 32-bit');
  assert.throws(() => fieldValues(99, 1, Uint8Array.of(0), true, 'x.tif'), /fieldValues: unknown TIFF field type 99/);
});

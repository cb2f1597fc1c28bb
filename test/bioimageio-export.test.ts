/**
 * bioimage.io export: the package of a bundled model validates against the spec's JSON schema
 * (../shared/specs/bioimageio/bioimageio_schema.json, ModelDescr of format 0.5.7, with ajv), its
 * files match their sha256, and running it through the import path (ONNX Runtime) reproduces
 * its test tensors, which unet-ts computed with TF.js.
 *
 * Needs onnxruntime-node (npm) and the schema under ../shared/specs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { initBackend } from '../src/backend/index.js';
import { bioimageioPackage, preprocessingFor, writeBioimageioPackage } from '../src/export/bioimageio.js';
import { applyProcessing } from '../src/io/bioimageio.js';
import { openPackageRunner, runPackageTest } from '../src/infer/bioimageio-predict.js';
import { loadOrt, ortLoadError } from '../src/infer/ort-engine.js';
import { loadModel } from '../src/io/model-files.js';
import { normalize } from '../src/io/normalize.js';
import { readPng } from '../src/io/png.js';
import { maxAbsDiff, skipUnless } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA = fileURLToPath(new URL('../../shared/specs/bioimageio/bioimageio_schema.json', import.meta.url));
const ort = await loadOrt();
const skip = skipUnless(ort ? false : `onnxruntime-node not loadable (${ortLoadError()}); run npm ci`) || skipUnless(existsSync(SCHEMA) ? false : `${SCHEMA} not found (../shared/specs/bioimageio)`);
const tmp = await mkdtemp(join(tmpdir(), 'unet-bioexport-'));
after(async () => rm(tmp, { recursive: true, force: true }));
before(async () => {
  await initBackend();
});

function modelValidator(): (d: unknown) => string[] {
  const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  // The schema's own formats for package-relative paths: any string (pydantic checks them on disk).
  ajv.addFormat('file-path', true);
  ajv.addFormat('path', true);
  ajv.addSchema(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object, 'bioimageio');
  const validate = ajv.getSchema('bioimageio#/$defs/bioimageio__spec__model__v0_5__ModelDescr');
  assert.ok(validate, 'schema has $defs/bioimageio__spec__model__v0_5__ModelDescr');
  return (d) => (validate(d) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
}

for (const [name, sample] of [['nuclei-fluo', 'dsb2018-fluo-00071198.png'], ['isbi2012-membrane', 'isbi2012-test-00.png']] as const) {
  test(`bioimage.io package of ${name}: schema-valid, sha256 right, test tensors reproduced by the import path`, { skip }, async () => {
    const { model, metadata } = await loadModel(join(ROOT, 'models', name));
    const files = await bioimageioPackage(model, metadata, { sample: await readPng(join(ROOT, 'samples', sample)), sampleName: sample });
    model.dispose();
    const out = join(tmp, name === 'nuclei-fluo' ? 'nuclei.zip' : name);
    await writeBioimageioPackage(out, files);
    const description = parse(new TextDecoder().decode(files['bioimageio.yaml'])) as Record<string, unknown> & { inputs: { test_tensor: { source: string; sha256: string } }[] };
    const validate = modelValidator();
    assert.deepEqual(validate(description), [], 'schema errors');
    // The documentation says what unet-ts adds to the network's pass, as the model stores it (the nuclei
    // model a watershed with a foreground level, TTA if its tuning kept it; the ISBI model neither).
    const doc = new TextDecoder().decode(files['README.md']);
    const pp = metadata.postprocess?.instances;
    if (name === 'nuclei-fluo') {
      assert.ok(pp?.watershed && pp.foregroundThreshold !== undefined, 'the bundled nuclei model stores a watershed with a foreground level');
      const tta = /Test-time augmentation: the probabilities averaged over the 8 flips\/rotations/;
      if (metadata.inference?.tta) assert.match(doc, tta, doc);
      else assert.doesNotMatch(doc, tta, doc);
      const erosion = pp.seedErosion ? ` and more than ${pp.seedErosion} px inside such a region (the seed regions eroded by a disc)` : '';
      const expected = `Objects: pixels where the summed probability of class(es) ${pp.foregroundClasses.join(', ')} exceeds ${pp.foregroundThreshold}, split by a watershed seeded where the probability of class(es) ${pp.seedClasses.join(', ')} is >= ${pp.seedThreshold}${erosion}, objects under ${pp.minSize} px dropped (tuned on validation images)`;
      assert.ok(doc.includes(expected), `expected "${expected}" in:\n${doc}`);
    } else {
      assert.doesNotMatch(doc, /Beyond the network/, doc);
    }
    // The validator is not vacuous: an older format_version or no inputs is refused.
    assert.notDeepEqual(validate({ ...description, format_version: '0.5.4' }), []);
    assert.notDeepEqual(validate({ ...description, inputs: [] }), []);
    for (const t of [description.inputs[0]!.test_tensor, (description.outputs as typeof description.inputs)[0]!.test_tensor]) {
      assert.equal(createHash('sha256').update(files[t.source]!).digest('hex'), t.sha256, `${t.source}: sha256`);
    }
    const runner = await openPackageRunner(out);
    try {
      const { output, expected } = await runPackageTest(runner);
      assert.deepEqual([output.height, output.width, output.channels], [expected.height, expected.width, metadata.config.classes]);
      const diff = maxAbsDiff(output.data, expected.data);
      assert.ok(diff <= 1e-4, `${name}: package test tensors reproduced to ${diff} > 1e-4`);
    } finally {
      await runner.release();
    }
  });
}

test('preprocessingFor matches unet-ts normalize for the fixed kinds', async () => {
  const raw = await readPng(join(ROOT, 'samples', 'isbi2012-test-00.png'));
  const f32 = { ...raw, data: Float32Array.from(raw.data) };
  for (const n of [{ kind: 'dtype' }, { kind: 'range', min: 10, max: 200 }, { kind: 'meanstd', mean: 120, std: 40 }, { kind: 'minmax' }] as const) {
    const ours = normalize(raw, n).data;
    const declared = applyProcessing(f32, preprocessingFor(n)).data;
    // fixed_zero_mean_unit_variance divides by std + 1e-6 (the spec's eps), scale_range by range + 1e-6.
    assert.ok(maxAbsDiff(ours, declared) < 1e-5, `${n.kind}: declared preprocessing differs from normalize by ${maxAbsDiff(ours, declared)}`);
  }
});

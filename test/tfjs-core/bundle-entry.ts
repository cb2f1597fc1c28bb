/**
 * Entry of the tfjs-core op suite bundle: setup first (jasmine globals, test env), then
 * every spec module tfjs-core 4.22.0 publishes (dist/tests.js), then the run.
 */
import './setup.js';
import '@tensorflow/tfjs-core/dist/tests.js';
import { runSuite } from './run-suite.js';

await runSuite();

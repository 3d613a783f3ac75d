/**
 * Which tfjs backends the backend-parametrized suites (GPM, policy loss, trainer) run on.
 *
 * Default: `cpu` and `wasm`. With `GPRL_TEST_TF_BACKEND=tensorflow` they run on the `tensorflow`
 * backend instead (tfjs-node, as `gprl setup-tensorflow` installs it); when it is not installed or
 * does not load, those suites are skipped and the reason is printed, never failed. CI runs them so
 * with `-t "tfjs tensorflow"`, which selects only the backend-parametrized suites.
 */
import { describe } from 'vitest';
import { loadTensorflowBackend, type TfBackendName } from '../src/tf.js';

const requested = process.env.GPRL_TEST_TF_BACKEND;
if (requested !== undefined && requested !== 'tensorflow') {
  throw new Error(`GPRL_TEST_TF_BACKEND: expected 'tensorflow' or unset, got ${JSON.stringify(requested)}`);
}

/** Why the tensorflow suites are skipped (only set when they were asked for). */
export let tensorflowSkipReason: string | undefined;
if (requested === 'tensorflow') {
  try {
    await loadTensorflowBackend();
  } catch (err) {
    tensorflowSkipReason = (err as Error).message;
    console.warn(`[gprl tests] the tensorflow backend suites are SKIPPED: ${tensorflowSkipReason}`);
  }
}

/** The backends to run the parametrized suites on. */
export const TEST_TF_BACKENDS: TfBackendName[] = requested === 'tensorflow' ? ['tensorflow'] : ['cpu', 'wasm'];

/** `describe`, skipped when the tensorflow backend was asked for and cannot load. */
export const describeTf: ReturnType<typeof describe.skipIf> = describe.skipIf(tensorflowSkipReason !== undefined);

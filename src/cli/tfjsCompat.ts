/**
 * `@tensorflow/tfjs-core` registers its gradients only from its per-file ES modules
 * (`dist/register_all_gradients.js`), whose relative imports have no file extension. Node's ES
 * module resolver rejects those; bundlers and the test runner accept them. This installs a module
 * resolve hook (Node ≥ 20.6, `module.register`) that retries such a relative import from inside
 * `@tensorflow/*` with `.js` and then `/index.js`, so the command-line program can load the gradients.
 * Every other import resolves exactly as before.
 */
import * as nodeModule from 'node:module';

const HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const parent = context.parentURL || '';
    const code = err && err.code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNSUPPORTED_DIR_IMPORT') && specifier.startsWith('.') && parent.includes('/@tensorflow/')) {
      try { return await next(specifier + '.js', context); } catch { return await next(specifier + '/index.js', context); }
    }
    throw err;
  }
}
`;

let installed = false;

/** Install the hook once; returns false where `module.register` does not exist (Node < 20.6). */
export function enableTfjsEsmResolution(): boolean {
  if (installed) return true;
  const register = (nodeModule as { register?: (specifier: string) => void }).register;
  if (typeof register !== 'function') return false;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
  installed = true;
  return true;
}

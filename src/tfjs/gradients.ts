/**
 * Registers tfjs-core's gradient functions. `@tensorflow/tfjs-core` alone registers none (the full
 * `@tensorflow/tfjs` package does it), and its gradient modules ship only as ESM files whose relative
 * imports have no `.js` extension, which Node's ESM resolver rejects. So, before importing them, a
 * resolve hook is registered (`module.register`, Node ≥ 20.6) that retries a failed relative import
 * from inside `@tensorflow/*` with `.js`, then `/index.js`, appended; it changes nothing else. The
 * command-line program relies on the same hook to import an optional `@tensorflow/tfjs-node`. Each
 * gradient module is imported on its own (not through `register_all_gradients.js`, which also pulls
 * in tfjs-core's ESM entry point through Prod's gradient; Prod is left out).
 */
import * as nodeModule from 'node:module';
import { tf } from '../tf.js';

const RESOLVE_HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const parent = context.parentURL || '';
    const code = err && err.code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNSUPPORTED_DIR_IMPORT') && /^\\.\\.?\\//.test(specifier) && /[\\\\/]@tensorflow[\\\\/]/.test(parent)) {
      try { return await next(specifier + '.js', context); } catch { return await next(specifier + '/index.js', context); }
    }
    throw err;
  }
}`;

let hookInstalled = false;

/**
 * Install the resolve hook once (it is also installed when this module loads). Returns false where
 * `module.register` does not exist (Node < 20.6).
 */
export function enableTfjsEsmResolution(): boolean {
  if (hookInstalled) return true;
  const register = (nodeModule as { register?: (specifier: string) => void }).register;
  if (typeof register !== 'function') return false;
  register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
  hookInstalled = true;
  return true;
}

enableTfjsEsmResolution();

/** Kernels whose gradient module `@tensorflow/tfjs-core/dist/gradients/<name>_grad.js` is registered. */
export const GRADIENT_KERNELS: readonly string[] = [
  'Abs', 'Acos', 'Acosh', 'AddN', 'Add', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan2', 'Atan', 'Atanh',
  'AvgPool3D', 'AvgPool', 'BatchMatMul', 'BatchToSpaceND', 'BroadcastTo', 'Cast', 'Ceil', 'ClipByValue',
  'ComplexAbs', 'Concat', 'Conv2DBackpropInput', 'Conv2D', 'Conv3D', 'Cos', 'Cosh', 'Cumsum',
  'DepthwiseConv2dNative', 'Dilation2D', 'Elu', 'Erf', 'Exp', 'ExpandDims', 'Expm1', 'FloorDiv', 'Floor',
  'FusedBatchNorm', 'GatherV2', 'GreaterEqual', 'Identity', 'IsFinite', 'IsInf', 'IsNan', 'LRN', 'LeakyRelu',
  'Log1p', 'LogSoftmax', 'Log', 'MaxPool3D', 'MaxPool', 'Max', 'Maximum', 'Mean', 'Min', 'Minimum',
  'MirrorPad', 'Mod', 'Multiply', 'Neg', 'OneHot', 'OnesLike', 'Pack', 'PadV2', 'Pow', 'Prelu', 'RealDiv',
  'Reciprocal', 'Relu6', 'Relu', 'Reshape', 'ResizeBilinear', 'ResizeNearestNeighbor', 'Reverse', 'Round',
  'Rsqrt', 'Select', 'Selu', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Slice', 'Softmax', 'Softplus',
  'SpaceToBatchND', 'SplitV', 'Sqrt', 'Square', 'SquaredDifference', 'Step', 'Sub', 'Sum', 'Tan', 'Tanh',
  'Tile', 'Transpose', 'Unpack', 'UnsortedSegmentSum', 'ZerosLike',
];

function isGradConfig(value: unknown): value is tf.GradConfig {
  return typeof value === 'object' && value !== null && typeof (value as { kernelName?: unknown }).kernelName === 'string' && typeof (value as { gradFunc?: unknown }).gradFunc === 'function';
}

/** Why the gradient modules could not be loaded (then training throws it), or undefined. */
export let gradientLoadError: string | undefined;

try {
  const modules = await Promise.all(
    GRADIENT_KERNELS.map((name) => import(`@tensorflow/tfjs-core/dist/gradients/${name}_grad.js`) as Promise<Record<string, unknown>>),
  );
  for (const m of modules) for (const value of Object.values(m)) if (isGradConfig(value)) tf.registerGradient(value);
} catch (err) {
  // Importing the package must not fail for code that never trains (e.g. the kernels).
  gradientLoadError = `tfjs-core's gradient modules could not be loaded (${(err as Error).message}); training needs Node >= 20.6 or a bundler`;
}

/** Throw a clear Error when gradients are unavailable. */
export function assertGradients(): void {
  if (gradientLoadError !== undefined) throw new Error(`gprl: ${gradientLoadError}`);
}

export * from './types.js';
export { backendInfo } from './backend.js';
export { groupScores, groupScoresAsync } from './kernels/groupScores.js';
export { groupAdvantages, groupAdvantagesAsync } from './kernels/groupAdvantages.js';
export { gprlAdvantages, gprlAdvantagesAsync } from './kernels/gprlAdvantages.js';
export { preferenceMatrix, preferenceMatrixAsync } from './kernels/preferenceMatrix.js';
export type { Policy, Tokens, SampleOptions, SampleResult, LogProbOptions, LogProbResult, NamedWeight } from './policy/policy.js';
export { GruPolicy, type GruPolicyOptions } from './policy/gruPolicy.js';

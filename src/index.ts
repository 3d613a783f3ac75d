export * from './types.js';
export { backendInfo } from './backend.js';
export { groupScores, groupScoresAsync } from './kernels/groupScores.js';
export { groupAdvantages, groupAdvantagesAsync } from './kernels/groupAdvantages.js';
export { gprlAdvantages, gprlAdvantagesAsync } from './kernels/gprlAdvantages.js';
export { preferenceMatrix, preferenceMatrixAsync } from './kernels/preferenceMatrix.js';

/** The group kernels' public API (re-exported by the package entry point). */
export { backendInfo } from '../backend.js';
export { groupScores, groupScoresAsync } from './groupScores.js';
export { groupAdvantages, groupAdvantagesAsync } from './groupAdvantages.js';
export { gprlAdvantages, gprlAdvantagesAsync } from './gprlAdvantages.js';
export { preferenceMatrix, preferenceMatrixAsync } from './preferenceMatrix.js';

export * from './types.js';
export { backendInfo } from './backend.js';

/** General Preference Model module: heads, models, training, data, persistence and interop. */
export { GpmHead, skewScore, type GpmHeadOptions, type GpmHeadConfig, type GpmHeadWeights, type GateKind } from './head.js';
export {
  featureEncoder,
  tokenEncoder,
  functionEncoder,
  layersEncoder,
  type Encoder,
  type EncoderConfig,
  type TokenEncoderOptions,
  type CustomEncoderOptions,
  type EncoderFunction,
  type EncoderBatchInfo,
  type LayersModelLike,
} from './encoder.js';
export type { ModelInput, InputKind } from './inputs.js';
export {
  GeneralPreferenceModel,
  BradleyTerryModel,
  type PreferenceModel,
  type PreferenceGroup,
  type VerifierOutputs,
  type PreferenceMatrixCallOptions,
  type GeneralPreferenceModelOptions,
  type BradleyTerryModelOptions,
} from './model.js';
export {
  trainPreferenceModel,
  evaluatePreferenceModel,
  computeLossAndGradients,
  validatePair,
  type PreferencePair,
  type TrainOptions,
  type TrainResult,
  type EpochLog,
  type BatchProgress,
  type InvalidPairReport,
  type EvaluateOptions,
} from './train.js';
export { parsePreferencePairs, readPreferencePairs, type ParsePairsOptions, type ParsedPairs, type InvalidLine } from './data.js';
export { saveModel, loadModel, type LoadModelOptions, type ModelJson, type WeightEntry } from './persist.js';
export { parseSafetensors, readSafetensors, type SafetensorsTensor } from './safetensors.js';
export {
  loadReferenceHead,
  referenceHeadFromSafetensors,
  referenceHeadFromJson,
  type ReferenceHeadOptions,
  type ReferenceHeadJson,
} from './interop.js';

export * from './types.js';
export { backendInfo } from './backend.js';
export { groupScores, groupScoresAsync } from './kernels/groupScores.js';
export { groupAdvantages, groupAdvantagesAsync } from './kernels/groupAdvantages.js';
export { gprlAdvantages, gprlAdvantagesAsync } from './kernels/gprlAdvantages.js';
export { preferenceMatrix, preferenceMatrixAsync } from './kernels/preferenceMatrix.js';
export type { Policy, Tokens, SampleOptions, SampleResult, LogProbOptions, LogProbResult, NamedWeight } from './policy/policy.js';
export { GruPolicy, type GruPolicyOptions } from './policy/gruPolicy.js';
export { drawToken, resolveSampleOptions, assertTokenBatch, type ResolvedSampleOptions } from './policy/policy.js';
export {
  policyLoss,
  policyLossAsync,
  type PolicyLossOptions,
  type PolicyLossCallOptions,
  type PolicyLossInputs,
  type PolicyLossShape,
  type PolicyLossMetrics,
  type PolicyLossResult,
  type KlEstimator,
  type LossAggregation,
  type ImportanceSamplingLevel,
  type Surrogate,
} from './kernels/policyLoss.js';
export { DriftMonitor, DRIFT_EVENT_KINDS, SECONDARY_DETECTORS, flooredKl, projectMeanOne } from './monitor/driftMonitor.js';
export type {
  DriftMonitorOptions,
  ResolvedDriftMonitorOptions,
  DriftStepInput,
  DriftEvent,
  DriftEventKind,
  DriftDecision,
  DriftMonitorState,
  SecondaryDetector,
} from './monitor/driftMonitor.js';
export { AdaptiveKlController } from './monitor/adaptiveKl.js';
export type { AdaptiveKlOptions, AdaptiveKlState } from './monitor/adaptiveKl.js';
export * from './gpm/index.js';
export { GPRLTrainer, scalarRewardAdvantages } from './trainer/trainer.js';
export type { GPRLTrainerOptions, ResumeOptions, Rollout, VerifierResult, VerifierModel, VerifierFn, RewardFn, PromptSource } from './trainer/trainer.js';
export { DEFAULT_CONFIG, resolveTrainerConfig, learningRateAt, aggregationOf, surrogateOf } from './trainer/config.js';
export type { GPRLTrainerConfig, ResolvedTrainerConfig, LossType, TrlLossType, ScaleRewards, LrSchedulerType, OptimizerName } from './trainer/config.js';
export type { StepMetrics, StepTiming } from './trainer/metrics.js';
export { writeCheckpoint, readCheckpoint } from './trainer/checkpoint.js';
export type { CheckpointData, CheckpointTensor, WriteCheckpointOptions } from './trainer/checkpoint.js';
export {
  policyLossOp,
  policyLossOpWithMetrics,
  policyLossComposed,
  registerPolicyLossKernel,
  POLICY_LOSS_KERNEL,
  type PolicyLossOpOptions,
} from './tfjs/policyLossOp.js';
export { tf, setTfBackend, loadTensorflowBackend, findTensorflowPackage, type TfBackendName, type TensorflowBackendInfo, type TensorflowPackageLocation } from './tf.js';
export { Rng } from './random.js';
// The study (gprl study): its engine, config and the annotator population, for variants run from code.
export { runStudy, type RunStudyOptions, type StudyProgress } from './study/runner.js';
export { resolveStudyConfig, loadStudyConfig, DEFAULT_STUDY_CONFIG, DEFAULT_POPULATION, type StudyConfig } from './study/config.js';
export { ARM_IDS, ARMS, type ArmId, type ArmSpec } from './study/arms.js';
export type { StudySummary, ArmRecord, UnitRecord, VerifierRecord, Evaluation, Estimate, Comparison, DetectionQuality } from './study/types.js';
export { exploitationLabel, detectRun } from './study/label.js';
export { AnnotatorPopulation, cyclicTriples, type AnnotatorType, type LabelledPair } from './demo/population.js';
export { TransformerPolicy, type TransformerPolicyOptions, type TransformerSampleOptions } from './policy/transformerPolicy.js';
export { supervisedFineTune, type SupervisedExample, type SupervisedFineTuneOptions, type SupervisedFineTuneResult, type SupervisedProgress } from './policy/supervisedFineTune.js';

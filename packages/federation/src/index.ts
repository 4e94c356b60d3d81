// @splitlora/federation: round policy and aggregation over named tensor records (the arithmetic is
// @splitlora/tensor's). Pure, no I/O, no timers: the server drives it with events and a clock.
export { fedAvg, commonShapes, AggregationError, type WeightedUpdate, type HostTensor, type TensorRecord } from './fedavg';
export {
  FedAvgStrategy,
  RobustStrategy,
  type RobustRule,
  type RobustOptions,
  type Strategy,
  type ClientInfo,
  type FitResult,
  type FitFailure,
  type AggregateOutcome,
  type FedAvgOptions,
} from './strategy';
export {
  RoundTracker,
  StepDeadline,
  type RoundTrackerOptions,
  type RoundOutcome,
  type RoundPhase,
  type UploadVerdict,
  type UploadRejection,
} from './round';
export { trimmedMean, coordinateMedian } from './robust';

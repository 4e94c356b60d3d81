// @splitlora/server: the Fastify + socket.io server of SplitLoRA: runs, rounds, the server part's
// compute (tfjs workers or the torch engine), persistence and the Redis cluster.
export { buildApp, DB_FILE, type AppOptions } from './app';
export { RunManager, type LoadedModel } from './run-manager';
export { DomainError, type DomainErrorKind } from './errors';
export { DataRoot } from './data-root';
export { Run, type ClientRecord, type RunMetric, type RunRestore } from './run';
export { ServerEngine, ComputeUnavailable, type EngineOptions } from './engine';
export { LocalServerCompute, packStep, unpackStep, type PackedStep, type RowGrads, type RowSlice, type ServerCompute, type ServerPartSpec, type ServerSnapshot, type StepReply, type StepRequest } from './compute/server-compute';
export { ComputeWorker, WorkerServerCompute, sharedRecord } from './compute/compute-worker';
export { ComputePool, rowShares, sumRecords, type ComputePoolOptions } from './compute/compute-pool';
export { TorchCompute } from './compute/torch-compute';
export { EngineUnavailable, ENGINE_SETTINGS, TORCH_DEVICES, resolveEngine, trainCompute, type EngineChoice, type EngineSetting, type ResolvedEngine } from './compute/engines';
export type { ComputeService, ComputeEngineName } from './compute/service';
export type { WorkerMemory } from './compute/messages';
export { parseSettings, RunSettingsSchema, type RunSettings } from './settings';
export { serve, DEFAULT_WEB_DIR, type ServeOptions } from './serve';
export { Store, type ClientRow, type MetricRow, type MetricQuery, type RoundRow, type RunRow } from './store';
export {
  CheckpointCorrupt, KEEP_CHECKPOINTS, checkpointName, decodeCheckpoint, encodeCheckpoint, listCheckpoints, loadLatestCheckpoint, writeCheckpoint,
  type CheckpointData, type CheckpointState, type LoadedCheckpoint,
} from './checkpoint';
export { adapterArchive, type AdapterArchiveInput } from './adapter-archive';
export { readTar, writeTar, type TarEntry } from './tar';
export { metricsCsv } from './metrics-csv';
export { ClusterCoordinator, type ServerAverageEvent } from './cluster/coordinator';
export { ClusterNode, type NodeOptions } from './cluster/node';
export { averageReplicas, type Replica } from './cluster/average';

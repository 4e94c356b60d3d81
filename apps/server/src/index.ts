// @splitlora/server: the Fastify + socket.io server of SplitLoRA.
export { buildApp, RunManager, type AppOptions, type LoadedModel } from './app';
export { Run, type ClientRecord, type RunMetric } from './run';
export { ServerEngine, type EngineOptions } from './engine';
export { parseSettings, RunSettingsSchema, type RunSettings } from './settings';
export { serve, DEFAULT_WEB_DIR, type ServeOptions } from './serve';

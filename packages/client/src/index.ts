// @splitlora/client: the volunteer's training loop and model download, for browser tabs and
// in-process Node clients alike.
export * from './volunteer';
export * from './model-download';
export * from './defences';
export * from './failover';
export * from './wire-bytes';

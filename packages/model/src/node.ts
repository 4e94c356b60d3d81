// Node-only entry of @splitlora/model: checkpoint and adapter files on disk, and the hub cache.
export * from './checkpoint/node';

// Node-only checkpoint helpers (fs, network). Never import from browser code.
export { loadGpt2Dir, saveGpt2Dir } from './hf-gpt2-node';
export { loadAdapterDir, saveAdapterDir } from './peft-node';
export { openSafetensorsFile, type SafetensorsFile } from './file-range-node';
export {
  DEFAULT_HUB_URL, MODEL_FILES, hubCacheDir, resolveModelSource,
  type DownloadProgress, type ResolveOptions,
} from './hub-node';
export { loadPretrainCheckpoint, savePretrainCheckpoint, type PretrainCheckpoint } from './pretrain-node';

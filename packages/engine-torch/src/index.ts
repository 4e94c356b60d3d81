// @splitlora/engine-torch: the server part in Python + PyTorch (python/splitlora_torch), and the
// Node side that finds a usable Python and speaks to the child over its pipes.
export { PYTHON_DIR, MIN_TORCH, INSTALL_HINT, probeTorch, pythonCandidates, type TorchDevice, type TorchProbe } from './probe';
export { TorchProcess, type TorchMessage, type TorchProcessOptions, type TorchReady } from './torch-process';

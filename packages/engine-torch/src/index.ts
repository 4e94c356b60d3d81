export { PYTHON_DIR, MIN_TORCH, INSTALL_HINT, probeTorch, pythonCandidates, type TorchDevice, type TorchProbe } from './probe';
export { TorchProcess, type TorchMessage, type TorchProcessOptions, type TorchReady } from './torch-process';

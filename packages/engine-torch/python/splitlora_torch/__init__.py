"""splitlora's native compute engine: the server part of split-federated LoRA GPT-2 in PyTorch.

The math mirrors packages/model (the tfjs engine's hand-written gradients are the specification);
serve.py speaks the compute message interface (apps/server/src/compute/messages.ts) over pipes.
"""

MIN_TORCH = (1, 13)

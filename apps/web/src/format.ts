// Numbers as the status panel shows them.
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function formatRate(tokensPerSec: number): string {
  return tokensPerSec >= 100 ? tokensPerSec.toFixed(0) : tokensPerSec.toFixed(1);
}

export function formatLoss(loss: number | null): string {
  return loss === null ? '–' : loss.toFixed(4);
}

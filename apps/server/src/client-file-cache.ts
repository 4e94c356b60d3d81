// The client part's download files (safetensors + config), built once per cut off the main
// thread (1–2 s for GPT-2 S) and then served by hash. A failed build is tried again on the next
// request.
import type { GPT2Config, TensorRecord } from '@splitlora/model';
import { ComputeWorker } from './compute/compute-worker';
import { clientModelFiles, type ClientFile, type ClientModelFiles } from './model-files';

export class ClientFileCache {
  /** By `${cut}` (labels "server") or `${cut}+head` (labels "client": ln_f too). */
  private byKey = new Map<string, Promise<ClientModelFiles>>();
  private built: ClientModelFiles[] = [];

  constructor(private readonly config: GPT2Config, private readonly weights: TensorRecord) {}

  /** The files of the client part for a cut. `head`: the U-shaped split's client part, which also holds ln_f. */
  get(cut: number, head = false): Promise<ClientModelFiles> {
    const key = head ? `${cut}+head` : `${cut}`;
    let f = this.byKey.get(key);
    if (!f) {
      f = this.build(cut, 'F16', head).then((f16) => {
        const files = clientModelFiles(this.config, cut, f16, () => this.build(cut, 'F32', head), head);
        this.built.push(files);
        return files;
      });
      f.catch(() => this.byKey.delete(key));
      this.byKey.set(key, f);
    }
    return f;
  }

  byHash(hash: string): ClientModelFiles | undefined {
    return this.built.find((f) => f.hash === hash);
  }

  private async build(cut: number, dtype: 'F16' | 'F32', head: boolean): Promise<ClientFile> {
    const worker = new ComputeWorker({ role: 'files', backend: 'none', config: this.config, weights: this.weights });
    try {
      await worker.start();
      return await worker.request<ClientFile>({ op: 'client-file', cut, dtype, ...(head ? { head } : {}) });
    } finally {
      await worker.close();
    }
  }
}

// serve: the split-federated server (volunteer page, REST API, sockets) on a model.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command } from 'commander';
import { loadGpt2Dir } from '@splitlora/model/node';
import { serve } from '@splitlora/server';
import { DEFAULT_MODEL_ID, DEMO_RUN, resolveModel } from '@splitlora/lab';
import { addEngineOptions, backendOption, engineFromFlags, intAtLeast, type EngineFlags } from '../options';
import { CliError, log } from '../output';

interface ServeFlags extends EngineFlags {
  port: number;
  host: string;
  model?: string;
  backend: string;
  token?: string;
  dataDir: string;
  dataRoot?: string;
  autoRun: boolean;
  run?: string;
  maxBatch: number;
  maxSeqLen: number;
  redis?: string;
}

export function serveCommand(): Command {
  return addEngineOptions(new Command('serve'))
    .description('start the server: volunteer page, operator API and sockets (prints the URLs and the operator token)')
    .option('--port <n>', 'port to listen on', intAtLeast(0), 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--model <dir|hub id>', `model directory or Hugging Face id (default: the offline ${DEFAULT_MODEL_ID})`)
    .addOption(backendOption())
    .option('--token <token>', 'operator token (default: random at each start)')
    .option('--data-dir <dir>', 'where runs are kept (SQLite history and checkpoints); an interrupted run there resumes at start', '.data')
    .option('--data-root <dir>', 'the only directory evaluation data files are read from (default: the data directory)')
    .option('--no-auto-run', 'do not start a demo run; wait for the operator')
    .option('--run <file>', 'JSON file with the settings of the first run (instead of the demo run)')
    .option('--max-batch <n>', 'largest batch a run may use (sizes the message limit)', intAtLeast(1), 16)
    .option('--max-seq-len <n>', 'longest sequence a run may use (sizes the message limit)', intAtLeast(2), 256)
    .option('--redis <url>', 'be the coordinator of a cluster: volunteers connect to "splitlora node" processes on this Redis (redis://HOST:PORT)')
    .action(async (o: ServeFlags) => {
      // The tfjs backend is chosen inside the compute workers; the main thread only serves.
      const backend = o.backend;
      const engine = await engineFromFlags(o, log);
      const dir = await resolveModel(o.model, { log });
      const { config, weights } = await loadGpt2Dir(dir);
      let autoRun: Record<string, unknown> | null = o.autoRun ? DEMO_RUN : null;
      if (o.run) {
        try {
          autoRun = JSON.parse(await readFile(o.run, 'utf8')) as Record<string, unknown>;
        } catch (e) {
          throw new CliError(`--run ${o.run}: ${(e as Error).message}`);
        }
      }
      const id = o.model ?? DEFAULT_MODEL_ID;
      const { app } = await serve({ model: { id: id.includes('/') && !id.startsWith('.') && !id.startsWith('/') ? id : basename(id), config, weights }, port: o.port, host: o.host, token: o.token, backend, engine, dataDir: o.dataDir, dataRoot: o.dataRoot, autoRun, maxBatch: o.maxBatch, maxSeqLen: o.maxSeqLen, redis: o.redis });
      // Ctrl-C / SIGTERM: write what is waiting and close the store; the run resumes at the next start.
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void app.close().finally(() => process.exit(0)));
      await new Promise(() => {}); // serve until killed
    });
}

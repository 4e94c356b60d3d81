// node: one cluster node of a `serve --redis` coordinator. It accepts volunteer sockets and runs
// the server submodel for them on its own backend; the run itself lives on the coordinator.
import { Command } from 'commander';
import { parseNodeUrls } from '@splitlora/client';
import { loadGpt2Dir } from '@splitlora/model/node';
import { ClusterNode } from '@splitlora/server';
import { DEFAULT_MODEL_ID, resolveModel } from '@splitlora/lab';
import { addEngineOptions, backendOption, engineFromFlags, intAtLeast, type EngineFlags } from '../options';
import { CliError, log } from '../output';

interface NodeFlags extends EngineFlags {
  redis?: string;
  port: number;
  host: string;
  model?: string;
  backend: string;
  id?: string;
  publicUrl?: string;
  maxBatch: number;
  maxSeqLen: number;
}

export function nodeCommand(): Command {
  return addEngineOptions(new Command('node'))
    .description('a cluster node: accepts volunteer sockets and trains a replica of the server part for them; the coordinator is "serve --redis"')
    .option('--redis <url>', 'the Redis the coordinator uses (redis://HOST:PORT); required')
    .option('--port <n>', 'port for volunteer sockets', intAtLeast(0), 8081)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--model <dir|hub id>', `the coordinator's model (default: the offline ${DEFAULT_MODEL_ID})`)
    .addOption(backendOption())
    .option('--id <name>', 'node name in logs (default: random)')
    .option('--public-url <url>', 'the URL volunteers reach this node at (http://HOST:PORT); the coordinator lists it at /api/nodes, and its pages fail over between the nodes listed there')
    .option('--max-batch <n>', 'largest batch a run may use (sizes the message limit)', intAtLeast(1), 16)
    .option('--max-seq-len <n>', 'longest sequence a run may use (sizes the message limit)', intAtLeast(2), 256)
    .action(async (o: NodeFlags) => {
      if (!o.redis) throw new CliError('node needs --redis redis://HOST:PORT (the coordinator\'s, from "splitlora serve --redis")');
      const publicUrl = o.publicUrl === undefined ? undefined : onePublicUrl(o.publicUrl);
      const engine = await engineFromFlags(o, log);
      const dir = await resolveModel(o.model, { log });
      const { config, weights } = await loadGpt2Dir(dir);
      const node = await ClusterNode.start({
        redis: o.redis, port: o.port, host: o.host, model: { id: o.model ?? DEFAULT_MODEL_ID, config, weights }, backend: o.backend, engine, id: o.id, publicUrl,
        maxBatch: o.maxBatch, maxSeqLen: o.maxSeqLen, log: (m) => log(m),
      });
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void node.close().finally(() => process.exit(0)));
      await new Promise(() => {}); // serve until killed
    });
}

function onePublicUrl(v: string): string {
  let urls: string[];
  try {
    urls = parseNodeUrls(v);
  } catch (e) {
    throw new CliError(`--public-url: ${(e as Error).message.replace(/^nodes: /, '')}`);
  }
  if (urls.length !== 1) throw new CliError(`--public-url ${v}: one URL, this node's`);
  return urls[0];
}

// simulate: one SplitLoRA run with N clients, in this process (--in-process, the default) or in
// headless Chromium tabs (--browser). Progress on stderr; with --json the last stdout line is
// {"method","clients","steps","aggregations","initialLoss","finalLoss","heldoutLoss","bytesUp","bytesDown","backends","wallSeconds"}.
import { Command } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { DEFAULT_WEB_DIR } from '@splitlora/server';
import { disposeWeights, toWeights } from '@splitlora/model';
import { saveAdapterDir } from '@splitlora/model/node';
import { CliError, log, printResult } from '../output';
import { progressBar } from '../progress';
import { addRunAndEngineOptions, loadSimModel, simData, trainSettings, type RunEngineFlags } from '../run-options';
import { engineFromFlags } from '../options';
import { ensureWebBuilt, formatTable, runSimulate } from '@splitlora/lab';

interface SimulateFlags extends RunEngineFlags {
  browser?: boolean;
  inProcess?: boolean;
  chromium?: string;
  browserBackend?: string;
  out?: string;
}

export function simulateCommand(): Command {
  const cmd = new Command('simulate').description('run SplitLoRA with N simulated clients: Node volunteers over loopback sockets (--in-process) or headless Chromium tabs (--browser)');
  addRunAndEngineOptions(cmd)
    .option('--in-process', 'clients are Node volunteers in this process, over loopback sockets (default)')
    .option('--browser', 'clients are headless Chromium tabs running the volunteer page (needs a system Chromium; builds dist/web first when it is missing or stale)')
    .option('--chromium <path>', 'Chromium binary for --browser (default $CHROMIUM_PATH or /usr/bin/chromium)')
    .option('--browser-backend <name>', 'tfjs backend the tabs try first: webgpu, webgl, wasm or cpu (default: the page picks, WebGPU first)')
    .option('--out <dir>', 'write the final adapter (the clients\' average on blocks [0, cut) and the server\'s on the rest) as a PEFT directory, e.g. for `attack --adapter`')
    .addHelpText('after', '\nExample:\n  splitlora simulate --clients 3 --steps 20 --interval 5 --lr 1e-3 --json\n  splitlora simulate --browser --clients 2 --steps 8 --interval 4 --json')
    .action(async (o: SimulateFlags) => {
      if (o.browser && o.inProcess) throw new CliError('choose one of --browser and --in-process');
      const backend = await selectNodeBackend(o.backend, log);
      const engine = await engineFromFlags(o, log);
      const model = await loadSimModel(o.model);
      const s = trainSettings(o, model);
      const data = await simData(o);
      log(`simulate: ${o.browser ? 'browser' : 'in-process'}, ${s.clients} clients × ${s.steps} steps, interval ${s.interval}, cut ${s.cut}; data: ${data.source}, shards ${data.shards.map((x) => x.length).join('/')}, ${data.heldout.length} held out`);
      if (o.browser) await ensureWebBuilt(DEFAULT_WEB_DIR, log); // before the progress bar draws
      const weights = toWeights(model.weights);
      const bar = progressBar(s.clients * s.steps, 'simulate [{bar}] {value}/{total} steps | loss {loss} | ETA {eta_formatted}');
      try {
        const { result, run } = await runSimulate(model, weights, s, data, {
          mode: o.browser ? 'browser' : 'in-process', engine,
          browser: { log, chromiumPath: o.chromium, backends: o.browserBackend ? data.shards.map(() => o.browserBackend) : undefined },
        }, { onStep: (done, _t, loss) => bar.update(done, { loss: Number.isFinite(loss) ? loss.toFixed(3) : '–' }) }).finally(() => bar.stop());
        log(`simulate: server on ${engine.engine === "torch" ? "the torch engine" : `tfjs ${backend}`}; clients on ${result.backends.join(', ')}`);
        if (o.out) {
          await saveAdapterDir(o.out, run.checkpoints[run.checkpoints.length - 1].adapter, s.lora, { baseModel: model.id });
          log(`simulate: final adapter written to ${o.out} (adapter_config.json + adapter_model.safetensors)`);
        }
        if (o.json) printResult(result);
        else {
          process.stdout.write(formatTable(['client', 'backend', 'bytes up', 'bytes down'], result.backends.map((b, c) => [c, b, result.bytesUp[c], result.bytesDown[c]])) + '\n\n');
          process.stdout.write(`${result.aggregations} aggregations; training loss ${result.initialLoss.toFixed(4)} → ${result.finalLoss.toFixed(4)}; held-out loss ${result.heldoutLoss.toFixed(4)}; ${result.wallSeconds.toFixed(1)} s\n`);
        }
      } finally {
        disposeWeights(weights);
      }
    });
  return cmd;
}

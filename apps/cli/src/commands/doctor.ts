// doctor: what this machine has for each compute engine, what `--engine auto` would pick, and
// what to install for the rest. The last stdout line is the same as JSON.
import { Command } from 'commander';
import { NODE_BACKENDS } from '@splitlora/backend/node';
import { INSTALL_HINT, probeTorch } from '@splitlora/engine-torch';
import { resolveEngine } from '@splitlora/server';
import { log, printResult } from '../output';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check the compute engines: Node and tfjs backends, Python, PyTorch (CPU threads, CUDA), msgpack; says what is missing and how to install it')
    .option('--python <path>', 'interpreter to check (default: $SPLITLORA_PYTHON, python3, /usr/bin/python3)')
    .action(async (o: { python?: string }) => {
      const cpu = await probeTorch({ python: o.python });
      const auto = await resolveEngine({ engine: 'auto', python: o.python });
      const line = (ok: boolean, what: string) => log(`${ok ? '  ok  ' : '  --  '} ${what}`);
      log(`splitlora doctor`);
      line(true, `node ${process.versions.node}; tfjs backends: ${NODE_BACKENDS.join(', ')} (tfjs engine, always available)`);
      line(cpu.pythonVersion !== '', cpu.pythonVersion ? `python ${cpu.pythonVersion} (${cpu.python})` : `python: none found`);
      line(cpu.torch !== null && cpu.problem === null, cpu.torch ? `torch ${cpu.torch}${cpu.cudaBuilt ? `, built for CUDA ${cpu.cudaBuilt}` : ', CPU build'}` : 'torch: missing');
      line(cpu.numpy !== null, `numpy ${cpu.numpy ?? 'missing'}`);
      line(cpu.msgpack !== null, `msgpack ${cpu.msgpack ?? 'missing'}`);
      line(cpu.cudaAvailable, cpu.cudaAvailable ? `CUDA: ${cpu.gpus.join(', ')}` : 'CUDA: no GPU visible to torch (the torch engine runs on the CPU)');
      if (cpu.problem) log(`torch engine: unavailable: ${cpu.problem}`);
      log(`--engine auto picks: ${auto.why.replace(/^engine auto: /, '')}`);
      printResult({
        node: process.versions.node, tfjsBackends: NODE_BACKENDS, python: cpu.pythonVersion ? cpu.python : null, pythonVersion: cpu.pythonVersion || null,
        torch: cpu.torch, numpy: cpu.numpy, msgpack: cpu.msgpack, cudaAvailable: cpu.cudaAvailable, gpus: cpu.gpus,
        torchEngine: cpu.problem === null ? 'ok' : cpu.problem, auto: auto.engine, install: cpu.problem ? INSTALL_HINT : null,
      });
    });
}

// Entry of the self-contained GPU check bundle (npm run bench:gpu:pack): `node bench-gpu.mjs [options]`
// runs the bench-gpu command alone, without the rest of the CLI or its native dependencies.
import { benchGpuCommand } from './commands/bench-gpu';

try {
  await benchGpuCommand([process.argv[1]]).parseAsync(process.argv);
} catch (e) {
  process.stderr.write(`bench-gpu: error: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

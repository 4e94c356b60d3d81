// npm run data:e2e [-- --from DIR] [--train] [--dir DIR]
// Puts the E2E NLG data where findE2EData looks: $SPLITLORA_E2E_DIR when set, else the cache.
// Errors print one line saying what to do (and, offline, the URLs and where each file goes) and exit 1.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { E2EDataError, installE2E } from './e2e-download';
import { E2E_DIR_ENV, e2eCacheDir } from './e2e-location';

const USAGE = 'usage: npm run data:e2e [-- [--from DIR] [--train] [--dir DIR] [--base-url URL]]';

function fail(message: string, extra: string[] = []): never {
  process.stderr.write(`data:e2e: ${message}\n${extra.map((l) => `${l}\n`).join('')}`);
  process.exit(1);
}

async function main(): Promise<void> {
  let values: { from?: string; train?: boolean; dir?: string; 'base-url'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { from: { type: 'string' }, train: { type: 'boolean' }, dir: { type: 'string' }, 'base-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
    }));
  } catch (e) {
    fail(`${(e as Error).message}; ${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n` +
      '  Downloads the E2E NLG dev/test data (CC BY-SA 4.0) from its pinned GitHub sources, checks each\n' +
      `  file's checksum and puts it in $${E2E_DIR_ENV} if set, else ${e2eCacheDir()}.\n` +
      '  --from DIR   offline: copy the files from DIR (same layout, or all side by side), checking them\n' +
      '  --train      also the train split (lora-format/train.txt, official-csv/trainset.csv)\n' +
      '  --dir DIR    put the data in DIR instead\n');
    return;
  }
  const dir = resolve(values.dir ?? process.env[E2E_DIR_ENV] ?? e2eCacheDir());
  const tty = process.stderr.isTTY;
  let lastFile = '';
  process.stderr.write(`E2E data -> ${dir}${values.from ? ` (from ${resolve(values.from)})` : ''}\n`);
  try {
    const r = await installE2E({
      dir,
      from: values.from === undefined ? undefined : resolve(values.from),
      train: values.train,
      baseUrl: values['base-url'],
      onProgress: ({ file, received, total }) => {
        if (!tty) {
          if (file !== lastFile) process.stderr.write(`fetching   ${file}\n`);
        } else {
          const of = total === undefined ? '' : ` / ${(total / 1e6).toFixed(1)} MB (${Math.floor((100 * received) / total)}%)`;
          process.stderr.write(`\r\x1b[Kfetching   ${file}: ${(received / 1e6).toFixed(1)} MB${of}`);
        }
        lastFile = file;
      },
      log: (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
    });
    process.stderr.write(`E2E data ready in ${r.dir}: ${r.files.length} files, checksums verified\n`);
  } catch (e) {
    if (tty) process.stderr.write('\n');
    if (e instanceof E2EDataError) fail(e.message, e.missing.map((m) => `  ${m.url}\n      -> ${m.dest}`));
    fail(e instanceof Error ? e.message : String(e));
  }
}

await main();

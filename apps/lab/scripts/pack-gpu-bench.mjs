#!/usr/bin/env node
// npm run bench:gpu:pack: writes .gpu-pack/, the GPU check for a machine with Vulkan but no Node and
// no internet: this Node binary (xz), Dawn's linux-x64 dawn.node (xz) with the `webgpu` package's
// loader, bench-gpu bundled into one .mjs with tfjs inlined, and run.sh, which unpacks and runs it.
// The device tool carries at most 64 MiB (the repository included), so the sizes are checked.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const out = join(root, '.gpu-pack');
const LIMIT = 64 * 2 ** 20;
/** Leave room for the repository's own files, which travel too. */
const PACK_LIMIT = 56 * 2 ** 20;

const die = (msg) => {
  process.stderr.write(`bench:gpu:pack: ${msg}\n`);
  process.exit(1);
};
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

if (process.platform !== 'linux' || process.arch !== 'x64') die(`needs linux-x64 (the GPU machine's platform), this is ${process.platform}-${process.arch}`);
const dawnDir = join(root, 'node_modules/webgpu');
const dawnNode = join(dawnDir, 'dist/linux-x64/dawn.node');
if (!existsSync(dawnNode)) die(`${relative(root, dawnNode)} is missing: run npm ci (the optional package webgpu@0.6.2 brings it)`);
if (spawnSync('xz', ['--version']).status !== 0) die('xz is not installed (apt-get install xz-utils)');
mkdirSync(join(out, 'webgpu'), { recursive: true });

async function sha256(file) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk);
  return h.digest('hex');
}

/** xz -9 of `src` into `dst`, skipped when `dst` was made from the same file (xz takes minutes for node). */
async function xz(src, dst) {
  const st = statSync(src);
  const stamp = `${src} ${st.size} ${st.mtimeMs}`;
  const stampFile = `${dst}.source`;
  if (existsSync(dst) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    process.stderr.write(`  ${relative(root, dst)}: up to date\n`);
    return;
  }
  process.stderr.write(`  xz -9 ${src} (${mib(st.size)}) …\n`);
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', 'xz -9 -T0 -c "$1" > "$2"', 'xz', src, dst], { stdio: 'inherit' });
  if (r.status !== 0) die(`xz of ${src} failed`);
  writeFileSync(stampFile, stamp);
  process.stderr.write(`  → ${mib(statSync(dst).size)} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

// ---- the bundle -------------------------------------------------------------------------------

// The bench and the CLI's engine flags import the server part's compute from @splitlora/server,
// whose index also brings Fastify and better-sqlite3 (native): the bundle takes the compute
// modules only.
const serverShim = {
  name: 'splitlora-server-compute-only',
  setup(b) {
    b.onResolve({ filter: /^@splitlora\/server$/ }, () => ({ path: 'server-compute-only', namespace: 'splitlora-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'splitlora-shim' }, () => ({
      contents: [
        "export { ServerEngine } from './apps/server/src/engine.ts';",
        "export { LocalServerCompute } from './apps/server/src/compute/server-compute.ts';",
        "export { WorkerServerCompute, sharedRecord } from './apps/server/src/compute/compute-worker.ts';",
        "export { TorchCompute } from './apps/server/src/compute/torch-compute.ts';",
        "export { ENGINE_SETTINGS, EngineUnavailable, TORCH_DEVICES, resolveEngine } from './apps/server/src/compute/engines.ts';",
      ].join('\n'),
      loader: 'ts',
      resolveDir: root,
    }));
  },
};

process.stderr.write('bench:gpu:pack: bundling apps/cli/src/bench-gpu-main.ts …\n');
const bundle = join(out, 'bench-gpu.mjs');
const result = await build({
  entryPoints: [join(root, 'apps/cli/src/bench-gpu-main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [serverShim],
  // Loaded at run time when present: webgpu from node_modules/webgpu beside the bundle (run.sh puts it
  // there), tfjs-node(-gpu) only on a machine that has it; the rest are optional native speed-ups.
  external: ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'bufferutil', 'utf-8-validate', 'msgpackr-extract'],
  // CommonJS code inside an ESM bundle still calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __splitloraCreateRequire } from 'node:module'; const require = __splitloraCreateRequire(import.meta.url);" },
  metafile: true,
});
if (result.errors.length > 0) die('esbuild failed');

// ---- node, dawn.node, webgpu's loader, run.sh ------------------------------------------------------

process.stderr.write('bench:gpu:pack: compressing the binaries …\n');
await xz(process.execPath, join(out, 'node.xz'));
await xz(dawnNode, join(out, 'dawn.node.xz'));
for (const f of ['index.js', 'package.json', 'LICENSE.md']) copyFileSync(join(dawnDir, f), join(out, 'webgpu', f));

// The Vulkan loader, which Dawn needs and the GPU machine may lack: Debian's libvulkan1 (116 kB), from
// .gl/ if it is there (the device README's folder), else fetched with apt-get download (no install).
const debs = join(out, 'debs');
const isLoaderDeb = (f) => /^libvulkan1_.*_amd64\.deb$/.test(f);
const glDebs = existsSync(join(root, '.gl')) ? readdirSync(join(root, '.gl')).filter(isLoaderDeb) : [];
const haveDeb = existsSync(debs) && readdirSync(debs).some(isLoaderDeb);
if (glDebs.length > 0 || !haveDeb) {
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(debs);
}
if (glDebs.length > 0) {
  for (const f of glDebs) copyFileSync(join(root, '.gl', f), join(debs, f));
} else if (haveDeb) {
  process.stderr.write('  libvulkan1: up to date\n');
} else {
  process.stderr.write('  libvulkan1: apt-get download (amd64) …\n');
  const apt = "o='-oAPT::Sandbox::User=root -oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/splitlora-apt-amd64'; mkdir -p /tmp/splitlora-apt-amd64/partial && apt-get $o update -qq && cd \"$1\" && apt-get $o download -qq libvulkan1";
  const r = spawnSync('sh', ['-c', apt, 'apt', debs], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) process.stderr.write('  warning: could not download libvulkan1; run.sh then needs libvulkan.so.1 on the GPU machine\n');
}
const debFiles = readdirSync(debs).map((f) => `debs/${f}`);

const sums = [
  `${await sha256(process.execPath)}  node`,
  `${await sha256(dawnNode)}  node_modules/webgpu/dist/linux-x64/dawn.node`,
].join('\n');
writeFileSync(join(out, 'SHA256SUMS'), `${sums}\n`);
writeFileSync(join(out, 'VERSION'), `node ${process.version}; webgpu ${JSON.parse(readFileSync(join(dawnDir, 'package.json'), 'utf8')).version}; packed ${new Date().toISOString()}\n`);

const runSh = `#!/usr/bin/env bash
# The GPU check, self-contained: unpacks node and dawn.node next to the bundle in $SPLITLORA_GPU_DIR
# (default /tmp/splitlora-gpu-check) and runs bench-gpu there; arguments go to bench-gpu
# (e.g. --quick, --budget 300, --only model). With SPLITLORA_GPU_OUT=dir, the JSON result and the
# log are also written there (bench-gpu.json, bench-gpu.log). Needs the Vulkan loader libvulkan.so.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=\${SPLITLORA_GPU_DIR:-/tmp/splitlora-gpu-check}
mkdir -p "$dest/node_modules/webgpu/dist/linux-x64"
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
unxz_to "$here/node.xz" "$dest/node"
chmod +x "$dest/node"
unxz_to "$here/dawn.node.xz" "$dest/node_modules/webgpu/dist/linux-x64/dawn.node"
cp "$here/webgpu/index.js" "$here/webgpu/package.json" "$dest/node_modules/webgpu/"
cp "$here/bench-gpu.mjs" "$here/SHA256SUMS" "$dest/"
cd "$dest"
if command -v sha256sum >/dev/null; then sha256sum --quiet -c SHA256SUMS; fi
missing=$(ldd ./node ./node_modules/webgpu/dist/linux-x64/dawn.node 2>&1 | grep 'not found' || true)
if [ -n "$missing" ]; then echo "run.sh: missing shared libraries: $missing" >&2; fi
# The Vulkan loader: the system's, else the carried Debian libvulkan1, unpacked here (not into /).
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  if ls "$here"/debs/libvulkan1_*.deb >/dev/null 2>&1 && command -v dpkg >/dev/null; then
    for f in "$here"/debs/*.deb; do dpkg -x "$f" "$dest/sysroot"; done
    export LD_LIBRARY_PATH="$dest/sysroot/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "run.sh: using the carried Vulkan loader $(ls "$dest"/sysroot/usr/lib/x86_64-linux-gnu/libvulkan.so.1.*)" >&2
  else
    echo "run.sh: warning: no libvulkan.so.1 (Vulkan loader) and no carried libvulkan1 .deb: Dawn will find no adapter" >&2
  fi
fi
# NVIDIA's Vulkan driver library, for the manifest below, where the image keeps it outside the linker's path.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="\${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
# NVIDIA's Vulkan driver manifest sits outside the loader's search path on some GPU machines.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
manifests=0
for f in /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json; do
  if [ -e "$f" ]; then manifests=1; fi
done
if [ -z "\${VK_ICD_FILENAMES:-}\${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && [ "$manifests" = 0 ]; then
  export VK_DRIVER_FILES=$nvidia_icd VK_ICD_FILENAMES=$nvidia_icd
  echo "run.sh: using $nvidia_icd" >&2
fi
export XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
echo "run.sh: $(./node --version), $(cat "$here/VERSION")" >&2
if [ -n "\${SPLITLORA_GPU_OUT:-}" ]; then
  mkdir -p "$SPLITLORA_GPU_OUT"
  ./node bench-gpu.mjs "$@" 2> >(tee "$SPLITLORA_GPU_OUT/bench-gpu.log" >&2) | tee "$SPLITLORA_GPU_OUT/bench-gpu.json"
  sleep 1 # let the stderr tee finish
else
  exec ./node bench-gpu.mjs "$@"
fi
`;
writeFileSync(join(out, 'run.sh'), runSh);
chmodSync(join(out, 'run.sh'), 0o755);

// ---- sizes --------------------------------------------------------------------------------------

const files = ['node.xz', 'dawn.node.xz', 'bench-gpu.mjs', 'run.sh', 'SHA256SUMS', 'VERSION', 'webgpu/index.js', 'webgpu/package.json', 'webgpu/LICENSE.md', ...debFiles];
let total = 0;
const rows = files.map((f) => {
  const n = statSync(join(out, f)).size;
  total += n;
  return `  ${f.padEnd(40)} ${String(n).padStart(10)} B  ${mib(n).padStart(9)}`;
});
// What the device tool sends besides the carried paths: tracked and untracked-not-ignored files.
const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).stdout ?? '';
const repoBytes = listed.split('\0').filter(Boolean).reduce((s, f) => s + (existsSync(join(root, f)) ? statSync(join(root, f)).size : 0), 0);
const gl = existsSync(join(root, '.gl')) ? Number(spawnSync('du', ['-sb', join(root, '.gl')], { encoding: 'utf8' }).stdout.split('\t')[0]) : 0;
process.stderr.write(`\nbench:gpu:pack: wrote ${relative(root, out)}/\n${rows.join('\n')}\n  ${"total".padEnd(40)} ${String(total).padStart(10)} B  ${mib(total).padStart(9)}\n`);
process.stderr.write(`  repository files that travel too: ${mib(repoBytes)}; .gl: ${gl ? mib(gl) : 'absent (see /tmp/helper-notes/gpu.md or the device README for the .deb download)'}\n`);
process.stderr.write(`  all together: ${mib(total + repoBytes + gl)} of the 64 MiB that may travel\n`);
if (total > PACK_LIMIT) die(`the pack is ${mib(total)}, over its ${mib(PACK_LIMIT)} share of the 64 MiB limit`);
if (total + repoBytes + gl > LIMIT) die(`pack + repository + .gl = ${mib(total + repoBytes + gl)}, over 64 MiB`);
process.stdout.write(`${JSON.stringify({ pack: relative(root, out), bytes: total, files: Object.fromEntries(files.map((f) => [f, statSync(join(out, f)).size])), repositoryBytes: repoBytes, glBytes: gl })}\n`);

// A POSIX ustar archive writer (and a reader for tests): enough for a handful of small files,
// without a dependency. Each file is a 512-byte header plus its bytes padded to 512; two zero
// blocks end the archive. `tar -xf` and Python's tarfile read it.

const BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, at most 100 bytes (e.g. "client/adapter_model.safetensors"). */
  name: string;
  data: Uint8Array;
}

function putString(h: Uint8Array, offset: number, length: number, s: string): void {
  const b = new TextEncoder().encode(s);
  if (b.length > length) throw new Error(`tar: "${s}" does not fit in ${length} bytes`);
  h.set(b, offset);
}

/** An octal number in `length - 1` digits plus NUL, as ustar numeric fields are. */
function putOctal(h: Uint8Array, offset: number, length: number, n: number): void {
  putString(h, offset, length, n.toString(8).padStart(length - 1, '0') + '\0');
}

function header(name: string, size: number, mtime: number): Uint8Array {
  if (new TextEncoder().encode(name).length > 100) throw new Error(`tar: the name "${name}" is longer than 100 bytes`);
  const h = new Uint8Array(BLOCK);
  putString(h, 0, 100, name);
  putOctal(h, 100, 8, 0o644); // mode
  putOctal(h, 108, 8, 0); // uid
  putOctal(h, 116, 8, 0); // gid
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, Math.floor(mtime / 1000));
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  h[156] = 0x30; // '0': a regular file
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

export function writeTar(entries: readonly TarEntry[], mtime = Date.now()): Uint8Array {
  const size = entries.reduce((s, e) => s + BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK, 0) + 2 * BLOCK;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const e of entries) {
    out.set(header(e.name, e.data.length, mtime), pos);
    out.set(e.data, pos + BLOCK);
    pos += BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK;
  }
  return out; // the tail is already zero
}

/** Reads the regular files of a ustar archive (no long-name extensions). */
export function readTar(bytes: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  const text = (a: number, b: number) => new TextDecoder().decode(bytes.subarray(a, b)).replace(/\0.*$/s, '');
  let pos = 0;
  while (pos + BLOCK <= bytes.length && bytes.subarray(pos, pos + BLOCK).some((b) => b !== 0)) {
    const name = text(pos, pos + 100);
    const size = parseInt(text(pos + 124, pos + 136).trim(), 8);
    if (!Number.isFinite(size) || pos + BLOCK + size > bytes.length) throw new Error(`tar: bad or truncated entry "${name}"`);
    if (bytes[pos + 156] === 0x30 || bytes[pos + 156] === 0) out.push({ name, data: bytes.slice(pos + BLOCK, pos + BLOCK + size) });
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

// The client submodel as files a browser can fetch: config.json and a safetensors file with only
// wte, wpe and blocks [0, k) (Hugging Face key names), and ln_f for a U-shaped run (labels
// "client", config "splitlora_head": true), whose pages compute the head and loss themselves. The URL carries a content hash, so browsers
// can cache it forever and a second visit downloads nothing.
// The weights go out in F16 by default: half the bytes (GPT-2 S at cut 3: 121 MB, not 243 MB),
// and the page up-casts them to F32 on load. `?dtype=F32` serves the exact F32 values, for
// checks that compare the split model with the unsplit one bit for bit; it is built on first use.
// The file answers single-range requests, so a broken download resumes where it stopped.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientTensorNames, configToHf, writeSafetensors, type Dtype, type GPT2Config, type TensorRecord } from '@splitlora/model';

export const CLIENT_DTYPES = ['F16', 'F32'] as const;
export type ClientDtype = (typeof CLIENT_DTYPES)[number];

export interface ClientFile {
  dtype: ClientDtype;
  bytes: Uint8Array;
  /** Hex SHA-256 of `bytes`; also the file's ETag. */
  sha256: string;
  /** Tensors kept in F32 because F16 cannot hold their values (empty for real GPT-2 weights). */
  keptF32: string[];
}

export interface ClientModelFiles {
  /** Names the files in URLs: the first 16 hex digits of the default (F16) file's SHA-256. */
  hash: string;
  config: Record<string, unknown>;
  /** The default download (F16). */
  safetensors: Uint8Array;
  sha256: string;
  file(dtype: ClientDtype): Promise<ClientFile>;
}

/** The smallest magnitude that rounds to Inf in F16: halfway between 65504 (the largest F16) and 2^16. */
const F16_OVERFLOW = 65520;

/** True when every finite value survives F16 without turning into ±Inf. */
function fitsF16(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]);
    if (a >= F16_OVERFLOW && a !== Infinity) return false;
  }
  return true;
}

function buildFile(subset: TensorRecord, cut: number, dtype: ClientDtype, head = false): ClientFile {
  const keptF32 = dtype === 'F16' ? Object.keys(subset).filter((n) => !fitsF16(subset[n].data)) : [];
  const dtypeOf = (name: string): Dtype => (dtype === 'F32' || keptF32.includes(name) ? 'F32' : 'F16');
  const metadata: Record<string, string> = { format: 'pt', 'splitlora.cut': String(cut), ...(head ? { 'splitlora.head': 'true' } : {}) };
  const bytes = writeSafetensors(subset, { dtype: dtypeOf, metadata });
  return { dtype, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), keptF32 };
}

/** One file of the client part in one dtype (the compute worker builds it off the main thread). */
export function buildClientFile(config: GPT2Config, weights: TensorRecord, cut: number, dtype: ClientDtype, head = false): ClientFile {
  const subset: TensorRecord = {};
  for (const n of clientTensorNames(config, cut, { head })) subset[`transformer.${n}`] = weights[n];
  return buildFile(subset, cut, dtype, head);
}

/** The files of one cut: the F16 download, and the exact F32 file built on first request. */
export function clientModelFiles(config: GPT2Config, cut: number, f16: ClientFile, buildF32: () => Promise<ClientFile>, head = false): ClientModelFiles {
  let f32: Promise<ClientFile> | null = null;
  return {
    hash: f16.sha256.slice(0, 16),
    config: { ...configToHf(config), splitlora_cut: cut, ...(head ? { splitlora_head: true } : {}) },
    safetensors: f16.bytes,
    sha256: f16.sha256,
    file: (dtype) => (dtype === 'F16' ? Promise.resolve(f16) : (f32 ??= buildF32())),
  };
}

/** Both files built in this thread (tests, tools). */
export function buildClientFiles(config: GPT2Config, weights: TensorRecord, cut: number, head = false): ClientModelFiles {
  return clientModelFiles(config, cut, buildClientFile(config, weights, cut, 'F16', head), async () => buildClientFile(config, weights, cut, 'F32', head), head);
}

/**
 * One byte range of a `size`-byte resource from a Range header (RFC 9110 §14.1.2), inclusive.
 * null: no usable range, send the whole file (absent, malformed, another unit, or several ranges,
 * which a server may ignore). 'unsatisfiable': answer 416.
 */
export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return null; // invalid range-spec: ignored, not refused
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

/** Answers GET /model/:hash/client.safetensors[?dtype=F32], honouring one Range (with If-Range). */
export async function sendClientFile(req: FastifyRequest, reply: FastifyReply, files: ClientModelFiles) {
  const asked = (req.query as Record<string, unknown> | undefined)?.dtype ?? 'F16';
  if (typeof asked !== 'string' || !(CLIENT_DTYPES as readonly string[]).includes(asked.toUpperCase())) {
    return reply.code(400).send({ error: 'E_BAD_REQUEST', message: `dtype must be one of ${CLIENT_DTYPES.join(', ')}` });
  }
  const file = await files.file(asked.toUpperCase() as ClientDtype);
  const size = file.bytes.byteLength;
  const etag = `"${file.sha256}"`;
  reply.header('etag', etag).header('accept-ranges', 'bytes');
  const ifRange = req.headers['if-range'];
  // A resumed download names the version it has; another version means "send it all again".
  const range = ifRange === undefined || ifRange === etag ? parseByteRange(req.headers.range, size) : null;
  if (range === 'unsatisfiable') {
    return reply.code(416).header('content-range', `bytes */${size}`).send({ error: 'E_RANGE', message: `the range "${req.headers.range}" lies outside the ${size}-byte file` });
  }
  const body = Buffer.from(file.bytes.buffer, file.bytes.byteOffset, size);
  reply.type('application/octet-stream');
  if (!range) return reply.send(body);
  return reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).send(body.subarray(range.start, range.end + 1));
}

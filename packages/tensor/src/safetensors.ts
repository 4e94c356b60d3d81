// safetensors read/write (https://github.com/huggingface/safetensors), browser- and Node-safe.
// Layout: u64 LE header length N | N bytes of JSON header | tensor data.
// Header: { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {string: string} },
// offsets relative to the start of the data section.
import { TensorError, fmtShape } from './errors';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from './float16';
import { numel, type HostTensor, type TensorRecord } from './host-tensor';

/** The dtypes we decode and write. */
export type Dtype = 'F32' | 'F16' | 'BF16';
export const SUPPORTED_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16'];

// Every dtype the format defines, so offsets of tensors we skip (e.g. a BOOL mask) still validate.
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

// The Rust implementation refuses headers above 100 MB; a larger length means "not safetensors".
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** [begin, end) relative to the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Byte offset of the data section from the start of the file (8 + N). */
  dataStart: number;
  tensors: Record<string, TensorInfo>;
  metadata: Record<string, string>;
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads N from the first 8 bytes. `what` names the file in errors. */
export function readHeaderLength(prefix: Uint8Array, what = 'safetensors buffer'): number {
  if (prefix.length < 8) {
    throw new TensorError('TRUNCATED', `${what}: truncated header: only ${prefix.length} bytes, but the 8-byte header-length prefix alone needs 8 (file incomplete or not safetensors)`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new TensorError('BAD_HEADER', `${what}: header length ${n} is over the 100 MB limit: not a safetensors file?`);
  }
  return Number(n);
}

/**
 * Parses the header. `bytes` must hold at least the first 8 + N bytes; `totalSize` is the whole
 * file's size (defaults to bytes.length) and is used to check every tensor's byte range.
 */
export function parseHeader(bytes: Uint8Array, totalSize = bytes.length, what = 'safetensors buffer'): SafetensorsHeader {
  const n = readHeaderLength(bytes, what);
  if (bytes.length < 8 + n || totalSize < 8 + n) {
    throw new TensorError('TRUNCATED', `${what}: truncated header: it declares a ${n}-byte JSON header but only ${Math.min(bytes.length, totalSize) - 8} bytes follow the length prefix (file incomplete?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new TensorError('BAD_HEADER', `${what}: invalid JSON header (${(e as Error).message}): file corrupt or not safetensors`, { cause: e });
  }
  if (!isPlainObject(json)) throw new TensorError('BAD_HEADER', `${what}: JSON header must be an object`);

  const dataLen = totalSize - 8 - n;
  const tensors: Record<string, TensorInfo> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(entry, what);
      continue;
    }
    tensors[name] = parseEntry(name, entry, dataLen, what);
  }
  return { dataStart: 8 + n, tensors, metadata };
}

function parseMetadata(entry: unknown, what: string): Record<string, string> {
  if (entry === null) return {};
  if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new TensorError('BAD_HEADER', `${what}: __metadata__ must map strings to strings`);
  }
  return { ...(entry as Record<string, string>) };
}

function parseEntry(name: string, entry: unknown, dataLen: number, what: string): TensorInfo {
  const bad = (why: string) => new TensorError('BAD_HEADER', `${what}: tensor "${name}": ${why}`);
  if (!isPlainObject(entry)) throw bad('entry must be an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offs } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('missing "dtype"');
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad('"shape" must be an array of non-negative integers');
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) throw bad('"data_offsets" must be [begin, end]');
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) {
    throw new TensorError('UNSUPPORTED_DTYPE', `${what}: tensor "${name}" has unknown dtype "${dtype}" (supported: ${SUPPORTED_DTYPES.join(', ')})`);
  }
  const [begin, end] = offs as [number, number];
  if (begin > end || end > dataLen) {
    throw new TensorError('BAD_OFFSETS', `${what}: tensor "${name}": data_offsets [${begin}, ${end}] fall outside the ${dataLen}-byte data section (file truncated or corrupt)`);
  }
  const want = numel(shape) * size;
  if (end - begin !== want) {
    throw new TensorError('BAD_OFFSETS', `${what}: tensor "${name}": data_offsets span ${end - begin} bytes but shape ${fmtShape(shape)} × ${dtype} needs ${want}`);
  }
  return { dtype, shape: [...shape], dataOffsets: [begin, end] };
}

/** Decodes one tensor from exactly its bytes (`raw.length` = end - begin). */
export function decodeTensor(name: string, info: TensorInfo, raw: Uint8Array): HostTensor {
  const n = numel(info.shape);
  const shape = [...info.shape];
  switch (info.dtype) {
    case 'F32':
      return { shape, data: readF32(raw, n) };
    case 'F16':
      return { shape, data: f16ArrayToF32(readU16(raw, n)) };
    case 'BF16':
      return { shape, data: bf16ArrayToF32(readU16(raw, n)) };
    default:
      throw new TensorError('UNSUPPORTED_DTYPE', `tensor "${name}" has dtype ${info.dtype}, which is not supported (supported: ${SUPPORTED_DTYPES.join(', ')}); convert the checkpoint first`);
  }
}

export interface ParsedSafetensors {
  tensors: TensorRecord;
  metadata: Record<string, string>;
}

/** Parses a whole safetensors buffer; `include` selects which tensors get decoded. */
export function parseSafetensors(
  bytes: Uint8Array,
  opts: { include?: (name: string) => boolean; what?: string } = {},
): ParsedSafetensors {
  const header = parseHeader(bytes, bytes.length, opts.what);
  const tensors: TensorRecord = {};
  for (const [name, info] of Object.entries(header.tensors)) {
    if (opts.include && !opts.include(name)) continue;
    tensors[name] = decodeTensor(name, info, tensorBytes(bytes, header, info));
  }
  return { tensors, metadata: header.metadata };
}

/** The bytes of one tensor inside a whole-file buffer. */
export function tensorBytes(bytes: Uint8Array, header: SafetensorsHeader, info: TensorInfo): Uint8Array {
  return bytes.subarray(header.dataStart + info.dataOffsets[0], header.dataStart + info.dataOffsets[1]);
}

export interface WriteOptions {
  /** One dtype for all tensors, or one per tensor name. Default F32. */
  dtype?: Dtype | ((name: string) => Dtype);
  /** Stored as __metadata__ (string values only, as the format requires). */
  metadata?: Record<string, string>;
}

/**
 * Writes tensors in insertion order, except that wider dtypes come first (F32 before F16/BF16) so
 * every tensor starts at a multiple of its element size. The header is padded with spaces to a
 * multiple of 8 bytes, as the Rust library does.
 */
export function writeSafetensors(tensors: TensorRecord, opts: WriteOptions = {}): Uint8Array {
  const dtypeOf = typeof opts.dtype === 'function' ? opts.dtype : () => (opts.dtype as Dtype | undefined) ?? 'F32';
  const entries = Object.entries(tensors).map(([name, t]) => {
    if (t.data.length !== numel(t.shape)) {
      throw new TensorError('SHAPE_MISMATCH', `tensor "${name}": ${t.data.length} values do not fill shape ${fmtShape(t.shape)}`);
    }
    const dtype = dtypeOf(name);
    if (!SUPPORTED_DTYPES.includes(dtype)) {
      throw new TensorError('UNSUPPORTED_DTYPE', `cannot write tensor "${name}" as ${dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`);
    }
    return { name, t, dtype, bytes: encode(t.data, dtype) };
  });
  entries.sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype]); // stable: keeps insertion order within a width

  const header: Record<string, unknown> = {};
  if (opts.metadata && Object.keys(opts.metadata).length > 0) header.__metadata__ = opts.metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.t.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const e of entries) {
    out.set(e.bytes, pos);
    pos += e.bytes.length;
  }
  return out;
}

function encode(data: Float32Array, dtype: Dtype): Uint8Array {
  const typed = dtype === 'F32' ? data : dtype === 'F16' ? f32ArrayToF16(data) : f32ArrayToBf16(data);
  if (isLittleEndian) return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  const out = new Uint8Array(typed.byteLength);
  const view = new DataView(out.buffer);
  if (typed instanceof Float32Array) typed.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else typed.forEach((v, i) => view.setUint16(i * 2, v, true));
  return out;
}

// Copies, so the result owns an aligned buffer whatever the tensor's offset in the file.
// (Not raw.slice(): on a Node Buffer that is a view into a shared pool.)
function copyBytes(raw: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(raw.length);
  out.set(raw);
  return out.buffer;
}

function readF32(raw: Uint8Array, n: number): Float32Array {
  if (isLittleEndian) return new Float32Array(copyBytes(raw), 0, n);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
}

function readU16(raw: Uint8Array, n: number): Uint16Array {
  if (isLittleEndian) return new Uint16Array(copyBytes(raw), 0, n);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Uint16Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}


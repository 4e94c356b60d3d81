// Reads a safetensors file piecewise: header first, then only the byte ranges asked for, so a
// client can load 3 blocks of a 1.4 GB gpt2-medium without reading the rest.
import { open, type FileHandle } from 'node:fs/promises';
import { parseHeader, readHeaderLength, type SafetensorsHeader, type TensorInfo } from '@splitlora/tensor';
import { CheckpointError } from './errors';

export interface SafetensorsFile {
  path: string;
  header: SafetensorsHeader;
  /** The raw bytes of one tensor. */
  read(info: TensorInfo): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const fh = await openExisting(path);
  try {
    const size = (await fh.stat()).size;
    const n = readHeaderLength(await readRange(fh, 0, Math.min(8, size)), path);
    const header = parseHeader(await readRange(fh, 0, Math.min(8 + n, size)), size, path);
    return {
      path,
      header,
      read: (info) => readRange(fh, header.dataStart + info.dataOffsets[0], info.dataOffsets[1] - info.dataOffsets[0]),
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

export async function openExisting(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CheckpointError('MISSING_FILE', `file not found: ${path}`, { cause: e });
    }
    throw e;
  }
}

async function readRange(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new CheckpointError('TRUNCATED', `file ended after ${position + done} bytes while reading bytes ${position}..${position + length}`);
    done += bytesRead;
  }
  return buf;
}

// The one way the manager reads a file it did not write itself (state file,
// certificates, keys, CA bundles, password files, TLS material, Secret
// entries): it must be a regular file of bounded size. A device (a symlink to
// /dev/zero), a FIFO or a socket is refused before a byte is read, and opening
// never blocks (O_NONBLOCK: a FIFO without a writer would hang open(2)); a file
// larger than the limit is refused, never read into memory. The size is checked
// again while reading: the file may grow after fstat.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';

const { O_RDONLY, O_NONBLOCK, O_NOCTTY, O_NOFOLLOW } = fsSync.constants;
const OPEN_FOR_READING = O_RDONLY | O_NONBLOCK | O_NOCTTY;
const CHUNK_BYTES = 64 * 1024;

export const KiB = 1024;
export const MiB = 1024 * KiB;

export interface BoundedReadOptions {
  readonly maxBytes: number;
  /** Refuse a symlink as the last path component (the caller resolved and vetted the path). */
  readonly noFollow?: boolean;
}

/** A file refused for what it is, not for an errno: `code` is ENOTREG or EFBIG. */
export class RefusedFileError extends Error {
  readonly code: 'ENOTREG' | 'EFBIG';
  constructor(code: 'ENOTREG' | 'EFBIG', message: string) {
    super(message);
    this.code = code;
  }
}

export async function readBoundedFile(file: string, options: BoundedReadOptions): Promise<Buffer> {
  const { handle, size } = await openBoundedFile(file, options);
  try {
    const chunkBytes = chunkSize(size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await handle.read(chunk, 0, chunkBytes, null);
      if (bytesRead === 0) return Buffer.concat(chunks, total);
      total += bytesRead;
      if (total > options.maxBytes) throw tooLarge(options.maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

export function readBoundedFileSync(file: string, options: BoundedReadOptions): Buffer {
  const fd = fsSync.openSync(file, openFlags(options));
  try {
    const chunkBytes = chunkSize(checkStats(fsSync.fstatSync(fd), options.maxBytes));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const bytesRead = fsSync.readSync(fd, chunk, 0, chunkBytes, null);
      if (bytesRead === 0) return Buffer.concat(chunks, total);
      total += bytesRead;
      if (total > options.maxBytes) throw tooLarge(options.maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    fsSync.closeSync(fd);
  }
}

/** sha256 (hex) of a file's bytes, read a chunk at a time: a large file never sits in memory whole. */
export async function hashBoundedFile(file: string, options: BoundedReadOptions): Promise<string> {
  const opened = await openBoundedFile(file, options);
  try {
    return await hashOpenFile(opened, options.maxBytes);
  } finally {
    await opened.handle.close();
  }
}

export interface OpenedFile {
  readonly handle: fs.FileHandle;
  /** What fstat saw at open. */
  readonly size: number;
}

/** Opens for reading and refuses, before any read, what is not a regular file of at most maxBytes. The caller closes it. */
export async function openBoundedFile(file: string, options: BoundedReadOptions): Promise<OpenedFile> {
  const handle = await fs.open(file, openFlags(options));
  try {
    return { handle, size: checkStats(await handle.stat(), options.maxBytes) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * sha256 (hex) of an opened file's bytes, streamed. Reads at explicit positions
 * from 0: the descriptor's own offset is neither used nor moved, so it can be
 * handed on (a child reading it, or reopening it through /dev/fd) as it was.
 */
export async function hashOpenFile(opened: OpenedFile, maxBytes: number): Promise<string> {
  const chunkBytes = chunkSize(opened.size);
  // Loaded on first use: node:crypto costs 8 to 12 ms of start-up, and the state file, read before the API listens, is never hashed.
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(chunkBytes);
  let total = 0;
  for (;;) {
    const { bytesRead } = await opened.handle.read(chunk, 0, chunkBytes, total);
    if (bytesRead === 0) return hash.digest('hex');
    total += bytesRead;
    if (total > maxBytes) throw tooLarge(maxBytes);
    hash.update(chunk.subarray(0, bytesRead));
  }
}

/** "1 MiB", "64 KiB", "512 bytes": limits as people read them. */
function describeSize(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} bytes`;
}

/** What a refused or failed read means to a person: the reason without the errno noise. */
export function describeReadError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (error instanceof RefusedFileError) return message;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'a symlink where none is allowed, or a symlink loop';
  if (code === 'EISDIR') return 'a directory, not a file';
  return message;
}

function openFlags(options: BoundedReadOptions): number {
  return OPEN_FOR_READING | (options.noFollow ? O_NOFOLLOW : 0);
}

/** Returns the size fstat saw. */
function checkStats(stats: fsSync.Stats, maxBytes: number): number {
  if (!stats.isFile()) throw new RefusedFileError('ENOTREG', `not a regular file (${describeType(stats)})`);
  if (stats.size > maxBytes) throw tooLarge(maxBytes);
  return stats.size;
}

// A certificate or a password is a few KiB: a buffer its size (plus one byte,
// to see the end in the same read) spares the allocator a 64 KiB block per read.
function chunkSize(size: number): number {
  return Math.min(size + 1, CHUNK_BYTES);
}

function tooLarge(maxBytes: number): RefusedFileError {
  return new RefusedFileError('EFBIG', `larger than ${describeSize(maxBytes)}`);
}

function describeType(stats: fsSync.Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file';
}

// crilog.ts: reads container logs in the CRI log format, as containerd writes them to a
// container's log_path. Each line of the file is
//
//   <RFC 3339 time, nanoseconds> <stdout|stderr> <tags> <content>\n
//
// where tags is "F" for a full line or "P" for a partial one: the runtime splits long lines
// into P pieces followed by one F piece, per stream, and the pieces join into one log line.
//
// The parsing (parseCriLine, CriLogDecoder, formatLogLine) is pure; readCriLog does the file
// I/O: whole log or its last lines, and with follow, new lines as they are written until the
// container has exited and the file is drained, across the file being rotated or not existing
// yet.
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/** CriLogStream is the stream a log line was written to. */
export type CriLogStream = 'stdout' | 'stderr';

/** CriLogPiece is one line of a CRI log file. */
export interface CriLogPiece {
  /** time is the runtime's RFC 3339 timestamp, as written. */
  readonly time: string;
  readonly stream: CriLogStream;
  /** partial is true for a "P" piece: the log line goes on in the next piece of its stream. */
  readonly partial: boolean;
  /** content is the piece's bytes, without the newline. */
  readonly content: Buffer;
}

/** LogLine is one whole log line: its pieces joined. */
export interface LogLine {
  /** time is the time of the line's first piece. */
  readonly time: string;
  readonly stream: CriLogStream;
  readonly content: Buffer;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** parseCriLine parses one line of a CRI log file (without its newline); undefined when the
 *  line is not in the CRI format. */
export function parseCriLine(line: Buffer): CriLogPiece | undefined {
  const s1 = line.indexOf(SPACE);
  if (s1 <= 0) return undefined;
  const s2 = line.indexOf(SPACE, s1 + 1);
  if (s2 < 0) return undefined;
  const stream = line.toString('latin1', s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // The tags end at the next space; a line with empty content may end right after them.
  let s3 = line.indexOf(SPACE, s2 + 1);
  if (s3 < 0) s3 = line.length;
  const tags = line.toString('latin1', s2 + 1, s3).split(':');
  if (tags[0] !== 'F' && tags[0] !== 'P') return undefined;
  return {
    time: line.toString('latin1', 0, s1),
    stream,
    partial: tags[0] === 'P',
    content: line.subarray(Math.min(s3 + 1, line.length)),
  };
}

/** formatLogLine renders a log line as `tug logs` prints it: the content and a newline, after
 *  the time and a space when timestamps is set. */
export function formatLogLine(line: LogLine, timestamps: boolean): Buffer {
  const parts = timestamps ? [Buffer.from(`${line.time} `, 'latin1'), line.content] : [line.content];
  return Buffer.concat([...parts, Buffer.from('\n')]);
}

/**
 * CriLogDecoder turns the bytes of a CRI log file, fed in chunks of any size, into whole log
 * lines. It keeps an unfinished last line and the P pieces of each stream until they complete.
 * Lines not in the CRI format are skipped.
 */
export class CriLogDecoder {
  #rest: Buffer = Buffer.alloc(0);
  readonly #open = new Map<CriLogStream, { time: string; pieces: Buffer[] }>();

  /** push decodes a chunk and returns the log lines it completes, in file order. */
  push(chunk: Buffer): LogLine[] {
    const data = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    const out: LogLine[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      const piece = parseCriLine(data.subarray(start, nl));
      start = nl + 1;
      if (piece !== undefined) this.#add(piece, out);
    }
    // Copy, so the kept bytes do not pin the whole chunk.
    this.#rest = Buffer.from(data.subarray(start));
    return out;
  }

  /** end returns what is left once the file is complete: the P pieces no F piece closed (a
   *  container that died mid-line) and a last line without a newline. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    if (this.#rest.length > 0) {
      const piece = parseCriLine(this.#rest);
      this.#rest = Buffer.alloc(0);
      if (piece !== undefined) this.#add({ ...piece, partial: false }, out);
    }
    for (const [stream, open] of this.#open) out.push({ time: open.time, stream, content: Buffer.concat(open.pieces) });
    this.#open.clear();
    return out;
  }

  #add(piece: CriLogPiece, out: LogLine[]): void {
    const open = this.#open.get(piece.stream);
    if (piece.partial) {
      if (open === undefined) this.#open.set(piece.stream, { time: piece.time, pieces: [Buffer.from(piece.content)] });
      else open.pieces.push(Buffer.from(piece.content));
      return;
    }
    if (open === undefined) {
      out.push({ time: piece.time, stream: piece.stream, content: Buffer.from(piece.content) });
      return;
    }
    this.#open.delete(piece.stream);
    out.push({ time: open.time, stream: piece.stream, content: Buffer.concat([...open.pieces, piece.content]) });
  }
}

/** ReadCriLogOptions say what readCriLog reads. */
export interface ReadCriLogOptions {
  /** tailLines, when above 0, starts with only the last tailLines log lines. */
  readonly tailLines?: number;
  /** timestamps prefixes each line with its time (see formatLogLine). */
  readonly timestamps?: boolean;
  /** follow keeps reading new lines as they are written, until exited() says the container
   *  has exited and the file is drained, or signal aborts. */
  readonly follow?: boolean;
  /** exited says whether the container writing the log has exited (no more lines will come).
   *  Asked while following, each time the reader is at the end of the file. Default: never. */
  readonly exited?: () => boolean | Promise<boolean>;
  /** signal ends the reading early (readCriLog then returns without error). */
  readonly signal?: AbortSignal | undefined;
  /** pollMs is how often a follower looks for new data at the end of the file (default 200). */
  readonly pollMs?: number;
}

const CHUNK_BYTES = 64 * 1024;

/** sleep waits ms, or less when signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** replaced says whether path now names another file than fh (rotated) or fh shrank below
 *  pos (truncated). A missing path is not a replacement: the old file may still grow. */
async function replaced(path: string, fh: FileHandle, pos: number): Promise<boolean> {
  const [cur, now] = await Promise.all([fh.stat(), stat(path).catch(() => undefined)]);
  if (cur.size < pos) return true;
  return now !== undefined && (now.ino !== cur.ino || now.dev !== cur.dev);
}

/** readAll decodes all of fh and keeps its last n lines (all when n is 0). Returns them and
 *  the offset read up to; the decoder keeps what did not complete. */
async function readAll(fh: FileHandle, decoder: CriLogDecoder, n: number): Promise<{ lines: LogLine[]; pos: number }> {
  const buf = Buffer.alloc(CHUNK_BYTES);
  let lines: LogLine[] = [];
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    lines.push(...decoder.push(buf.subarray(0, bytesRead)));
    if (n > 0 && lines.length > 2 * n) lines = lines.slice(-n);
  }
  return { lines: n > 0 ? lines.slice(-n) : lines, pos };
}

/**
 * readCriLog reads the CRI log file at path and yields its lines as printed (formatLogLine),
 * several whole lines per chunk. Without follow, it yields the lines there are now (none when
 * the file does not exist) and returns. With follow it waits for the file to appear, reads
 * new lines as they are written, moves to the new file when the file is rotated, and returns
 * once exited() is true and the file is drained, or when signal aborts.
 */
export async function* readCriLog(path: string, opts: ReadCriLogOptions = {}): AsyncGenerator<Buffer> {
  const { signal } = opts;
  const timestamps = opts.timestamps === true;
  const follow = opts.follow === true;
  const pollMs = opts.pollMs ?? 200;
  const exited = opts.exited ?? (() => false);
  const render = (lines: LogLine[]): Buffer => Buffer.concat(lines.map((l) => formatLogLine(l, timestamps)));

  let decoder = new CriLogDecoder();
  let fh = await openIfExists(path);
  while (fh === undefined && follow && signal?.aborted !== true) {
    // Ask before looking again, so a file written just before the container exited is read.
    const over = await exited();
    fh = await openIfExists(path);
    if (fh !== undefined || over) break;
    await sleep(pollMs, signal);
  }
  if (fh === undefined) return;
  try {
    const first = await readAll(fh, decoder, Math.max(0, opts.tailLines ?? 0));
    let pos = first.pos;
    if (first.lines.length > 0) yield render(first.lines);
    if (!follow) {
      const rest = decoder.end();
      if (rest.length > 0) yield render(rest);
      return;
    }
    const buf = Buffer.alloc(CHUNK_BYTES);
    let done = false;
    while (signal?.aborted !== true) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        const lines = decoder.push(buf.subarray(0, bytesRead));
        if (lines.length > 0) yield render(lines);
        continue;
      }
      // At the end of the file: stop after a last read once the container has exited; move to
      // the new file after a rotation, once the old one is read to its end; else wait for more.
      if (done) break;
      if (await replaced(path, fh, pos)) {
        const next = await openIfExists(path);
        if (next !== undefined) {
          // What the writer added to the old file between the empty read above and the rename
          // is there still: read it to the end before moving on.
          for (let r = await fh.read(buf, 0, buf.length, pos); r.bytesRead > 0; r = await fh.read(buf, 0, buf.length, pos)) {
            pos += r.bytesRead;
            const lines = decoder.push(buf.subarray(0, r.bytesRead));
            if (lines.length > 0) yield render(lines);
          }
          const rest = decoder.end();
          if (rest.length > 0) yield render(rest);
          await fh.close();
          fh = next;
          pos = 0;
          decoder = new CriLogDecoder();
          continue;
        }
      }
      if (await exited()) {
        done = true;
        continue;
      }
      await sleep(pollMs, signal);
    }
    if (signal?.aborted !== true) {
      const rest = decoder.end();
      if (rest.length > 0) yield render(rest);
    }
  } finally {
    await fh.close();
  }
}

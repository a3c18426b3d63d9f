// Newline-delimited JSON framing: one UTF-8 JSON message per line. Works on
// buffers, so a multibyte character split across chunks is never torn.

const NEWLINE = 0x0a;

/** Splits a byte stream into lines; calls `onTooLong` (once) when a line would pass `maxLineBytes`. */
export class LineReader {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = Number.POSITIVE_INFINITY,
    private readonly onTooLong: () => void = () => {},
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline < 0) break;
      const piece = chunk.subarray(start, newline);
      if (this.pendingBytes + piece.length > this.maxLineBytes) return this.fail();
      const line = this.chunks.length ? Buffer.concat([...this.chunks, piece]).toString('utf8') : piece.toString('utf8');
      this.chunks = [];
      this.pendingBytes = 0;
      start = newline + 1;
      this.onLine(line);
      if (this.failed) return;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxLineBytes) return this.fail();
      this.chunks.push(rest);
      this.pendingBytes += rest.length;
    }
  }

  /** Stops reading (further pushes are ignored). */
  stop(): void {
    this.failed = true;
    this.chunks = [];
  }

  private fail(): void {
    this.stop();
    this.onTooLong();
  }
}

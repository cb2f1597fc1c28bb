/** Progress display: a redrawn bar on a TTY, plain log lines otherwise. */
export interface ProgressLine {
  readonly done: number;
  readonly total: number;
  readonly text: string;
  readonly etaMs: number;
}

export class ProgressReporter {
  private lastPlain = 0;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 10_000,
  ) {}

  update(p: ProgressLine, force = false): void {
    const eta = formatDuration(p.etaMs);
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round((p.done / p.total) * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      this.stream.write(`\r[${bar}] ${p.done}/${p.total} ${p.text} ETA ${eta}\x1b[K`);
      if (p.done === p.total) this.stream.write('\n');
      return;
    }
    const now = Date.now();
    if (force || p.done === p.total || p.done === 1 || now - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = now;
      this.stream.write(`${p.done}/${p.total} ${p.text} ETA ${eta}\n`);
    }
  }
}

/** @example formatDuration(3_723_000) === '1h02m03s' */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : m > 0 ? `${m}m${pad(sec)}s` : `${sec}s`;
}

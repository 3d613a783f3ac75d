/**
 * A progress bar on stderr. On a TTY it redraws one line (at most 10 times a second); otherwise it
 * prints a plain line when the stage changes or every 5% of the work, so logs stay readable.
 */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class ProgressBar {
  private readonly tty: boolean;
  private readonly start = performance.now();
  private lastDraw = 0;
  private lastBucket = -1;
  private lastStage = '';
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly enabled = true,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, total: number, label: string): void {
    if (!this.enabled) return;
    const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = frac > 0.02 ? (elapsed * (1 - frac)) / frac : Number.NaN;
    const pct = `${Math.floor(frac * 100)}`.padStart(3);
    if (this.tty) {
      const now = performance.now();
      if (now - this.lastDraw < 100 && frac < 1) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      let line = `${bar} ${pct}% ${duration(elapsed)} (eta ${duration(eta)}) ${label}`;
      const cols = this.stream.columns ?? 100;
      if (line.length > cols - 1) line = line.slice(0, cols - 1);
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const stage = label.replace(/, step \d+\/\d+$/, '');
    const bucket = Math.floor(frac * 20);
    if (stage === this.lastStage && bucket === this.lastBucket) return;
    this.lastStage = stage;
    this.lastBucket = bucket;
    this.stream.write(`[${pct}%] ${duration(elapsed)} ${label}\n`);
  }

  /** End the bar (a newline after the TTY line). */
  finish(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

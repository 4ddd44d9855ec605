/**
 * Resident memory of a process, read from /proc (Linux): one reading, or a
 * sampler that reads it at a fixed interval in the background.
 */
import {readFile} from 'node:fs/promises';

/** A process's resident set size (VmRSS) in bytes. @throws when the process is gone or /proc has no VmRSS. */
export async function readRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

/** Bytes as MB with one decimal (10^6 bytes, as the limits in the issue are written). */
export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** One reading of a {@link RssSampler}. */
export interface RssSample {
  /** When it was read (ms since the epoch). */
  at: number;
  bytes: number;
}

/**
 * Reads a process's RSS every `intervalMs` until stopped, keeping at most
 * `maxSamples` readings (the oldest are dropped). A reading that fails (the
 * process exited) ends the sampling.
 */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 200,
    private readonly maxSamples = 5_000,
  ) {}

  /** Start sampling in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stop and wait for the reading in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** The largest reading taken from `from` to `to` (ms since the epoch), or undefined when there is none. */
  maxBetween(from: number, to: number): RssSample | undefined {
    let max: RssSample | undefined;
    for (const sample of this.samples) if (sample.at >= from && sample.at <= to && (max === undefined || sample.bytes > max.bytes)) max = sample;
    return max;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        this.samples.push({at: Date.now(), bytes: await readRss(this.pid)});
      } catch {
        return;
      }
      if (this.samples.length > this.maxSamples) this.samples.shift();
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }
}

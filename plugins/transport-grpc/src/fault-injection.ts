/**
 * A testing aid: partitions without root or firewall rules. When
 * `grpc.faultInjectionFile` is set, every call first looks at that JSON file
 *
 * ```json
 * {"blockOutbound": ["127.0.0.1:4001", "[::1]:4002"], "blockInbound": ["127.0.0.2"]}
 * ```
 *
 * and fails matching calls as if the network had dropped them: an outbound
 * call to a listed endpoint throws PeerUnreachableError at once, an inbound
 * call from a listed remote IP is answered UNAVAILABLE. The file is read on
 * every call (it is a few bytes; it is parsed again only when its text
 * changes), so tests cut and heal links by rewriting it. A missing file blocks
 * nothing; a malformed one is logged and blocks nothing. Not meant for
 * production.
 *
 * Daemons that share one IP (all on 127.0.0.1) cannot be told apart by
 * `blockInbound`; partition them with `blockOutbound` on both sides: for a 3/2
 * split, each daemon of one group lists the endpoints of the other group.
 */
import {readFileSync} from 'node:fs';
import {formatEndpoint, parseEndpoint, type Logger} from '@wgmesh/core';
import {z} from 'zod';
import {canonicalAddress} from './address.js';

const faultFileSchema = z.strictObject({
  blockOutbound: z.array(z.string()).default([]),
  blockInbound: z.array(z.string()).default([]),
});

/** Canonical text of an endpoint, so `[::1]:4000` and `[0:0::1]:4000` match. */
function canonicalEndpoint(text: string): string {
  try {
    const {host, port} = parseEndpoint(text.trim());
    return formatEndpoint(canonicalAddress(host), port);
  } catch {
    return text.trim();
  }
}

/** Reads the fault file lazily and answers "is this call blocked?". */
export class FaultInjector {
  private readonly file: string;
  private readonly logger: Logger;
  private text = '';
  private outbound = new Set<string>();
  private inbound = new Set<string>();

  constructor(file: string, logger: Logger) {
    this.file = file;
    this.logger = logger;
  }

  /** True when calls to `endpoint` are to be dropped. */
  blocksOutbound(endpoint: string): boolean {
    this.refresh();
    return this.outbound.size > 0 && this.outbound.has(canonicalEndpoint(endpoint));
  }

  /** True when calls from `remoteAddress` (an IP) are to be dropped. */
  blocksInbound(remoteAddress: string): boolean {
    this.refresh();
    return this.inbound.size > 0 && this.inbound.has(canonicalAddress(remoteAddress));
  }

  /** The file being watched (for messages). */
  get path(): string {
    return this.file;
  }

  private refresh(): void {
    // Read the whole (tiny) file every time rather than trusting mtime: two
    // rewrites within one timestamp tick must not be missed by a test.
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      text = '';
    }
    if (text === this.text) return;
    this.text = text;
    this.outbound = new Set();
    this.inbound = new Set();
    if (text.trim() === '') return;
    let parsed: z.infer<typeof faultFileSchema>;
    try {
      parsed = faultFileSchema.parse(JSON.parse(text));
    } catch (error) {
      this.logger.warn({file: this.file, err: (error as Error).message}, 'fault injection file is not valid; blocking nothing');
      return;
    }
    this.outbound = new Set(parsed.blockOutbound.map(canonicalEndpoint));
    this.inbound = new Set(parsed.blockInbound.map(canonicalAddress));
    this.logger.info({file: this.file, blockOutbound: [...this.outbound], blockInbound: [...this.inbound]}, 'fault injection file loaded');
  }
}

/**
 * What the stub was asked to configure, as a plain value: returned by
 * `StubWgDriver.snapshot()` in-process, and mirrored to
 * `<dataDir>/wg-stub/state.json` so tests can check what a daemon running in
 * another process asked for. The file never holds a private key: it carries
 * the public key derived from it instead.
 */
import {join} from 'node:path';
import {readJsonFile} from '@wgmesh/core';
import {z} from 'zod';

/** Version of the state file format. */
export const STUB_STATE_VERSION = 1;

const peerSchema = z.object({
  publicKey: z.string(),
  endpoint: z.string().nullable(),
  allowedIps: z.array(z.string()),
  keepaliveSeconds: z.number().int().optional(),
});

const routeSchema = z.object({destination: z.string(), via: z.string().optional()});

/** How many times each operation was called on one interface (changes or not). */
const callCountsSchema = z.object({
  ensureInterface: z.number().int(),
  applyPeers: z.number().int(),
  setAddresses: z.number().int(),
  setRoutes: z.number().int(),
});

/** One interface as the stub holds it. */
export const stubInterfaceSnapshotSchema = z.object({
  name: z.string(),
  /** Derived from the private key the daemon set (the private key itself is never kept in a snapshot). */
  publicKey: z.string(),
  listenPort: z.number().int(),
  mtu: z.number().int(),
  /** Exactly the last peer set applied, in the order given. */
  peers: z.array(peerSchema),
  /** Exactly the last address list set. */
  addresses: z.array(z.string()),
  /** Exactly the last route list set. */
  routes: z.array(routeSchema),
  calls: callCountsSchema,
});

/** Everything the stub holds: its interfaces by name (sorted), and the names removed so far. */
export const stubSnapshotSchema = z.object({
  version: z.literal(STUB_STATE_VERSION),
  interfaces: z.array(stubInterfaceSnapshotSchema),
  /** Interfaces removed with `removeInterface`, in order (a name removed twice appears twice). */
  removed: z.array(z.string()),
  /** Whether `ensureForwarding` was called (the host would forward IPv6); never turns false again. */
  forwarding: z.boolean().default(false),
  /** How many times `ensureForwarding` was called (changes or not). */
  forwardingCalls: z.number().int().default(0),
});

/** One interface as the stub holds it. */
export type StubInterfaceSnapshot = z.infer<typeof stubInterfaceSnapshotSchema>;
/** Everything the stub holds. */
export type StubSnapshot = z.infer<typeof stubSnapshotSchema>;
/** Per-operation call counts of one interface. */
export type StubCallCounts = z.infer<typeof callCountsSchema>;

/** Where the stub mirrors its state for a daemon with data directory `dataDir`. */
export function stubStateFile(dataDir: string): string {
  return join(dataDir, 'wg-stub', 'state.json');
}

/**
 * Read a mirrored state file (e.g. a test checking a daemon in another
 * process); `undefined` when the stub has not written one yet.
 * @throws DecodeError when the file is not a valid state file.
 */
export async function readStubState(file: string): Promise<StubSnapshot | undefined> {
  return readJsonFile(file, stubSnapshotSchema, 'wg-stub state file');
}

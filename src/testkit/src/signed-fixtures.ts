/**
 * Signed test data for store tests: nodes with real Ed25519 identities, helpers
 * to build and sign their records and tombstones at a chosen version and time,
 * helpers to forge entries that must be rejected, and loggers for tests.
 * Signing is the slow part of store tests, so suites build pools of entries
 * once and reuse them.
 */
import {authorityAdmin, createAuthority, ed25519Signer, encode, generateIdentity, issueMembership, meshIdFromAuthorityKey, nodeAddress, signEntry} from '@wgmesh/core';
import type {Ed25519Signer, EntryBody, Logger, MeshAdmin, MeshSettings, NodeIdentity, NodeRecord, SignedEntry, Tombstone, VerifiedEntry} from '@wgmesh/core';

/** The time test entries are dated by default (ms since the epoch). */
export const FIXTURE_NOW = Date.UTC(2026, 0, 1);

/** A mesh member for tests: its identity and builders of its signed entries. */
export interface TestNode {
  /** The node's full identity (it signs). */
  readonly identity: NodeIdentity;
  /** The node id. */
  readonly id: string;
  /** The mesh its entries belong to. */
  readonly meshId: string;
  /** An unsigned record body: a reachable peer at version and time {@link FIXTURE_NOW}, with `patch` applied. */
  recordBody(patch?: Partial<NodeRecord>): NodeRecord;
  /** A record signed by this node. */
  record(patch?: Partial<NodeRecord>): VerifiedEntry;
  /** An unsigned tombstone body, with `patch` applied. */
  tombstoneBody(patch?: Partial<Tombstone>): Tombstone;
  /** A tombstone signed by this node. */
  tombstone(patch?: Partial<Tombstone>): VerifiedEntry;
}

/**
 * A test node of mesh `meshId` with a fresh identity (or the one given). Its
 * entries default to version and time `now`; pass `version`/`updatedAt` in a
 * patch to place one in time.
 */
export function makeTestNode(meshId: string, options: {identity?: NodeIdentity; now?: number; credential?: Uint8Array} = {}): TestNode {
  const identity = options.identity ?? generateIdentity();
  const now = options.now ?? FIXTURE_NOW;
  // A Buffer, as every decoded entry holds it: a signed and a decoded copy of a body compare equal.
  const credential = Buffer.from(options.credential ?? issueMembership(testMeshAdmin(meshId), identity.signingKey, 'peer', now));
  const recordBody = (patch: Partial<NodeRecord> = {}): NodeRecord => ({
    kind: 'record',
    meshId,
    id: identity.nodeId,
    signingKey: identity.signingKey,
    wgPublicKey: identity.wgPublicKey,
    address: nodeAddress(meshId, identity.nodeId, 0),
    addressCounter: 0,
    role: 'peer',
    controlEndpoint: '[2001:db8::1]:7946',
    wgEndpoint: '[2001:db8::1]:51820',
    alias: null,
    description: null,
    services: {},
    routes: [],
    version: now,
    createdAt: now,
    updatedAt: now,
    credential,
    ...patch,
  });
  const tombstoneBody = (patch: Partial<Tombstone> = {}): Tombstone => ({
    kind: 'tombstone',
    meshId,
    id: identity.nodeId,
    signingKey: identity.signingKey,
    version: now,
    updatedAt: now,
    credential,
    ...patch,
  });
  return {
    identity,
    id: identity.nodeId,
    meshId,
    recordBody,
    record: (patch) => signEntry(identity, recordBody(patch)),
    tombstoneBody,
    tombstone: (patch) => signEntry(identity, tombstoneBody(patch)),
  };
}

/**
 * Encode any body and sign it with any identity, skipping the checks of
 * `signEntry`: how a hostile node makes entries that receivers must reject.
 */
export function forgeEntry(body: EntryBody | Record<string, unknown>, signer: NodeIdentity): SignedEntry {
  const bytes = encode(body);
  return {body: bytes, signature: signer.sign(bytes)};
}

/** A copy of `entry` with one bit of its signature flipped. */
export function corruptSignature(entry: SignedEntry): SignedEntry {
  const signature = new Uint8Array(entry.signature);
  signature[0] = (signature[0] ?? 0) ^ 1;
  return {body: new Uint8Array(entry.body), signature};
}

/** Just the wire part of an entry (what a peer would send), dropping verified fields. */
export function wireEntry(entry: SignedEntry): SignedEntry {
  return {body: entry.body, signature: entry.signature};
}

/** A pool of pre-signed entries for property tests: every kind of conflict a store must resolve. */
export interface EntryPool {
  /** The mesh of every entry. */
  readonly meshId: string;
  /** The nodes whose entries the pool holds. */
  readonly nodes: readonly TestNode[];
  /** All entries, in no meaningful order. */
  readonly entries: readonly VerifiedEntry[];
}

/**
 * Sign a pool of entries for `nodeCount` nodes of `meshId`. Per node: two
 * different records at version 1 (an equal-version tie), a tombstone at 2, a
 * re-added record and a tombstone both at 3 (a tie between kinds), and a record
 * at 4. All are dated within a minute of `now` so none expires on a fixed clock.
 */
export function makeEntryPool(meshId: string, nodeCount: number, now = FIXTURE_NOW): EntryPool {
  const nodes = Array.from({length: nodeCount}, () => makeTestNode(meshId, {now}));
  const entries: VerifiedEntry[] = [];
  for (const node of nodes) {
    const at = (version: number): {version: number; updatedAt: number} => ({version, updatedAt: now + version * 1000});
    entries.push(
      node.record({...at(1), alias: 'first'}),
      node.record({...at(1), alias: 'second'}),
      node.tombstone(at(2)),
      node.record({...at(3), description: 're-added'}),
      node.tombstone(at(3)),
      node.record({...at(4), services: {ssh: '22'}}),
    );
  }
  return {meshId, nodes, entries};
}

/** The authorities of the meshes made by {@link testMeshId}, so that test nodes get credentials. */
const testAuthorities = new Map<string, Ed25519Signer>();

/**
 * A fresh mesh for a test: its id, derived from a new authority that
 * {@link testMeshAdmin} signs with.
 * @param random the source of the authority's key, for a mesh id that a seeded test can repeat
 */
export function testMeshId(random?: (n: number) => Uint8Array): string {
  const authority = random === undefined ? createAuthority().authority : ed25519Signer(Buffer.from(random(32)).toString('base64'));
  const meshId = meshIdFromAuthorityKey(authority.publicKey);
  testAuthorities.set(meshId, authority);
  return meshId;
}

/**
 * The admin (authority key) of a mesh made by {@link testMeshId}.
 * @throws Error when the mesh was not made by testMeshId
 */
export function testMeshAdmin(meshId: string): MeshAdmin {
  const authority = testAuthorities.get(meshId);
  if (!authority) throw new Error(`mesh ${meshId} was not made by testMeshId(): test entries need its authority to carry credentials`);
  return authorityAdmin(authority);
}

/** The authority key of a mesh made by {@link testMeshId} (to issue grants in tests). */
export function testMeshAuthority(meshId: string): Ed25519Signer {
  const authority = testAuthorities.get(meshId);
  if (!authority) throw new Error(`mesh ${meshId} was not made by testMeshId()`);
  return authority;
}

/** One call recorded by {@link recordingLogger}. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  /** The object (bindings merged in) or the message when only a string was logged. */
  obj: object | string;
  msg: string | undefined;
}

/** A {@link Logger} that keeps every line in `lines`, so tests can assert what was logged. */
export interface RecordingLogger extends Logger {
  /** Every line logged through this logger or its children, oldest first. */
  readonly lines: LogLine[];
}

/** A logger that records (children share the parent's `lines`). */
export function recordingLogger(bindings: Record<string, unknown> = {}, lines: LogLine[] = []): RecordingLogger {
  const log =
    (level: LogLine['level']) =>
    (obj: object | string, msg?: string): void => {
      lines.push({level, obj: typeof obj === 'string' ? obj : {...bindings, ...obj}, msg});
    };
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (more) => recordingLogger({...bindings, ...more}, lines),
  };
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  const noop = (): void => {};
  const logger: Logger = {debug: noop, info: noop, warn: noop, error: noop, child: () => logger};
  return logger;
}

/**
 * Settings of a peer in a mesh made by {@link testMeshId}, as `mesh create`
 * would save them, with a membership credential for `identity` and `patch` applied.
 */
export function testMeshSettings(meshId: string, identity: NodeIdentity, patch: Partial<MeshSettings> = {}): MeshSettings {
  return {
    version: 1,
    meshId,
    storeKind: 'twophase',
    interfaceName: 'wgmtest0',
    role: 'peer',
    listenPort: 0,
    endpointHost: '2001:db8::9',
    keepaliveSeconds: 0,
    advertiseRoutes: false,
    advertiseDefault: false,
    addressCounter: 0,
    joinedAt: FIXTURE_NOW,
    preUp: [],
    postUp: [],
    preDown: [],
    postDown: [],
    credential: Buffer.from(issueMembership(testMeshAdmin(meshId), identity.signingKey, 'peer', FIXTURE_NOW)).toString('base64'),
    ...patch,
  };
}

/**
 * What an admin does to a mesh from its own node: issue and list invites,
 * revoke nodes and invites, move the authority key, grant admin rights.
 * Everything an admin signs spreads as mesh state (revocations) or is handed
 * over as one line (invites, admin keys, grants); nothing needs the admin to
 * stay online.
 */
import {z} from 'zod';
import type {Clock} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {Transport} from '../contracts/transport.js';
import {assertMeshId} from '../addressing/mesh-id.js';
import {InvalidInputError, NotAdminError, UnknownMeshError} from '../errors.js';
import {ed25519Signer, nodeIdFromSigningKey, type NodeIdentity} from '../identity/identity.js';
import type {Role} from '../model/record.js';
import {credentialFactsOf} from '../model/entries.js';
import {issueGrant, issueInvite, issueRevocation} from '../trust/admin.js';
import {spentInvite} from '../trust/admission.js';
import {meshIdFromAuthorityKey, openAdminChain} from '../trust/credential.js';
import {grantSchema, openDocument, signedDocumentSchema} from '../trust/documents.js';
import {encodeInviteToken, MAX_TOKEN_ENDPOINTS} from '../trust/invite-token.js';
import {decodeLine, encodeLine} from '../trust/lines.js';
import {AdminKeys, MAX_REMEMBERED_INVITES, adminKind, meshAdminFrom, type AdminFile, type AdminKind} from './admin-keys.js';
import type {MeshRuntime} from './mesh-runtime.js';

/** Prefix of an exported authority key line. */
export const ADMIN_KEY_PREFIX = 'wgmadm1-';
/** Prefix of an admin grant line. */
export const ADMIN_GRANT_PREFIX = 'wgmgrant1-';

const adminLineSchema = z.object({a: z.string().regex(/^[A-Za-z0-9+/]{43}=$/)});
const grantLineSchema = z.object({a: z.string().regex(/^[A-Za-z0-9+/]{43}=$/), g: signedDocumentSchema});

/** An invite issued here, with how far it is used as this node sees the mesh. */
export interface InviteView {
  id: string;
  role: Role;
  uses: number;
  used: number;
  issuedAt: number;
  expiresAt: number;
  state: 'open' | 'used up' | 'revoked';
}

/** What the admin operations need from the daemon. */
export interface AdminOperationsDeps {
  identity: NodeIdentity;
  dataDir: string;
  clock: Clock;
  logger: Logger;
  transport: Transport | null;
  /** The running mesh. @throws UnknownMeshError */
  mesh(meshId: string): MeshRuntime;
}

/** Admin operations of one node. */
export class AdminOperations {
  readonly keys: AdminKeys;
  /** How this node is an admin of each mesh, as last read or written (for `status` and `mesh list`). */
  private readonly kinds = new Map<string, AdminKind>();

  constructor(private readonly deps: AdminOperationsDeps) {
    this.keys = new AdminKeys(deps.dataDir);
  }

  /** Read how this node is an admin of `meshId` (at start; a damaged file counts as none, and is logged). */
  async refresh(meshId: string): Promise<void> {
    const file = await this.keys.load(meshId).catch((error: unknown) => {
      this.deps.logger.error({err: error, meshId}, 'the admin key file of this mesh is unreadable: this node acts as a plain member');
      return undefined;
    });
    if (file) this.kinds.set(meshId, adminKind(file));
    else this.kinds.delete(meshId);
  }

  /** How this node is an admin of `meshId`, or undefined. */
  kind(meshId: string): AdminKind | undefined {
    return this.kinds.get(meshId);
  }

  /** Save a mesh's admin file and remember how this node is its admin. */
  async save(file: AdminFile): Promise<void> {
    await this.keys.save(file);
    this.kinds.set(file.meshId, adminKind(file));
  }

  private async file(meshId: string): Promise<AdminFile> {
    const file = await this.keys.load(assertMeshId(meshId));
    if (!file) throw new NotAdminError(meshId);
    return file;
  }

  /**
   * Issue an invite for up to `uses` nodes with `role`, valid for `validForMs`.
   * The line names this node (when a peer) and a few other live peers to join
   * through; an admin that is not (or no longer) a member names none, and the
   * joiner gives a member with `--via`.
   */
  async invite(meshId: string, options: {role: Role; uses: number; validForMs: number; advertiseRoutes?: boolean | undefined; advertiseDefault?: boolean | undefined}): Promise<{meshId: string; inviteId: string; token: string; role: Role; uses: number; expiresAt: number; endpoints: string[]}> {
    const file = await this.file(meshId);
    const runtime = this.runningMesh(meshId);
    const now = this.deps.clock.now();
    const expiresAt = now + options.validForMs;
    const admin = meshAdminFrom(file, this.deps.identity);
    const issued = issueInvite(admin, {role: options.role, uses: options.uses, now, expiresAt});
    const selfId = this.deps.identity.nodeId;
    const peers = (runtime?.liveRecords() ?? []).filter((record) => record.role === 'peer' && record.controlEndpoint !== null);
    peers.sort((a, b) => Number(b.id === selfId) - Number(a.id === selfId));
    const endpoints = peers.flatMap((record) => (record.controlEndpoint ? [record.controlEndpoint] : [])).slice(0, MAX_TOKEN_ENDPOINTS);
    const invites = [...file.invites.filter((one) => one.expiresAt >= now), {id: issued.invite.id, role: options.role, uses: options.uses, issuedAt: now, expiresAt}];
    await this.save({...file, invites: invites.slice(-MAX_REMEMBERED_INVITES)});
    this.deps.logger.info({meshId, inviteId: issued.invite.id, role: options.role, uses: options.uses, expiresAt: new Date(expiresAt).toISOString()}, 'invite issued');
    const token = encodeInviteToken({
      chain: admin.chain,
      signed: issued.signed,
      key: issued.key,
      endpoints,
      suggestions: {...(options.advertiseRoutes ? {advertiseRoutes: true} : {}), ...(options.advertiseDefault ? {advertiseDefault: true} : {})},
    });
    return {meshId, inviteId: issued.invite.id, token, role: options.role, uses: options.uses, expiresAt, endpoints};
  }

  /** The running mesh, or undefined when this node is not in it. */
  private runningMesh(meshId: string): MeshRuntime | undefined {
    try {
      return this.deps.mesh(meshId);
    } catch (error) {
      if (error instanceof UnknownMeshError) return undefined;
      throw error;
    }
  }

  /** The invites issued on this node that have not expired, with their use as this node sees the mesh (open, used up or revoked). */
  async invites(meshId: string): Promise<InviteView[]> {
    const runtime = this.deps.mesh(meshId);
    const file = await this.file(meshId);
    const now = this.deps.clock.now();
    const used = new Map<string, number>();
    for (const {value} of runtime.store.entries()) {
      const id = spentInvite(value, credentialFactsOf);
      if (id !== null) used.set(id, (used.get(id) ?? 0) + 1);
    }
    return file.invites
      .filter((invite) => invite.expiresAt >= now)
      .map((invite): InviteView => {
        const count = used.get(invite.id) ?? 0;
        const revoked = runtime.store.get(invite.id)?.value.kind === 'revocation';
        return {...invite, used: count, state: revoked ? 'revoked' : count >= invite.uses ? 'used up' : 'open'};
      });
  }

  /**
   * Revoke a node (by node id, alias or mesh address) for good: a signed
   * revocation merged here, pushed to the members and to the node itself.
   */
  async revokeNode(meshId: string, target: string, reason: string | null): Promise<{meshId: string; nodeId: string}> {
    const runtime = this.deps.mesh(meshId);
    const file = await this.file(meshId);
    const nodeId = resolveNode(runtime, target);
    if (nodeId === this.deps.identity.nodeId) throw new InvalidInputError('an admin cannot revoke its own node: leave the mesh instead');
    const held = runtime.store.get(nodeId)?.value;
    const invite = held === undefined ? null : (credentialFactsOf(held)?.invite?.id ?? null);
    await runtime.publishRevocation(issueRevocation(meshAdminFrom(file, this.deps.identity), nodeId, 'node', this.deps.clock.now(), reason, invite));
    // The node no longer hears from members (they refuse it): tell it directly, so that it leaves.
    const controlEndpoint = held?.kind === 'record' ? held.controlEndpoint : null;
    if (controlEndpoint && this.deps.transport) {
      await this.deps.transport
        .sync(controlEndpoint, meshId, runtime.store.kind, runtime.store.openSync('initiator'), AbortSignal.timeout(10_000))
        .catch((error: unknown) => this.deps.logger.warn({err: error, meshId, nodeId}, 'could not tell the revoked node; it learns when it next syncs with an admin'));
    }
    this.deps.logger.info({meshId, nodeId, reason}, 'node revoked');
    return {meshId, nodeId};
  }

  /** Cancel an invite: nodes that redeem it from now on are refused (those admitted before stay). */
  async revokeInvite(meshId: string, inviteId: string): Promise<{meshId: string; inviteId: string}> {
    const runtime = this.deps.mesh(meshId);
    const file = await this.file(meshId);
    if (!/^[0-9a-f]{32}$/.test(inviteId)) throw new InvalidInputError(`'${inviteId.slice(0, 40)}' is not an invite id (32 hex digits, as 'wgmesh mesh invites' lists)`);
    await runtime.publishRevocation(issueRevocation(meshAdminFrom(file, this.deps.identity), inviteId, 'invite', this.deps.clock.now()));
    this.deps.logger.info({meshId, inviteId}, 'invite revoked');
    return {meshId, inviteId};
  }

  /** The authority key of a mesh as one secret line, for `mesh admin import` on another machine. */
  async exportAuthority(meshId: string): Promise<{meshId: string; line: string}> {
    const file = await this.file(meshId);
    if (file.authorityPrivateKey === null) throw new InvalidInputError(`this node is an admin of mesh ${meshId} by grant and does not hold the authority key: export it on the node that does`);
    return {meshId, line: encodeLine(ADMIN_KEY_PREFIX, {a: file.authorityPrivateKey})};
  }

  /**
   * Grant admin rights in a mesh to another node's key (authority holders
   * only): a line the node imports with `mesh admin import`.
   */
  async grant(meshId: string, target: string, validForMs: number | null): Promise<{meshId: string; nodeId: string; line: string}> {
    const runtime = this.deps.mesh(meshId);
    const file = await this.file(meshId);
    if (file.authorityPrivateKey === null) throw new InvalidInputError(`only a holder of the authority key of mesh ${meshId} can grant admin rights`);
    const nodeId = resolveNode(runtime, target);
    const record = runtime.store.get(nodeId)?.value;
    if (record?.kind !== 'record') throw new InvalidInputError(`node ${nodeId} has no record in mesh ${meshId}`);
    const now = this.deps.clock.now();
    const grant = issueGrant(ed25519Signer(file.authorityPrivateKey), record.signingKey, now, validForMs === null ? null : now + validForMs);
    this.deps.logger.info({meshId, nodeId}, 'admin rights granted');
    return {meshId, nodeId, line: encodeLine(ADMIN_GRANT_PREFIX, {a: file.authorityKey, g: grant})};
  }

  /**
   * Import an authority key or an admin grant line. A grant must name this
   * node's key. Invites remembered for the mesh are kept.
   */
  async importLine(line: string): Promise<{meshId: string; kind: AdminKind}> {
    const text = line.trim();
    const file = text.startsWith(ADMIN_KEY_PREFIX) ? this.authorityFile(text) : text.startsWith(ADMIN_GRANT_PREFIX) ? this.grantFile(text) : undefined;
    if (!file) throw new InvalidInputError(`not an admin line: it starts with neither '${ADMIN_KEY_PREFIX}' ('wgmesh mesh admin export') nor '${ADMIN_GRANT_PREFIX}' ('wgmesh mesh admin grant')`);
    const previous = await this.keys.load(file.meshId).catch(() => undefined);
    if (previous?.authorityPrivateKey && file.authorityPrivateKey === null) throw new InvalidInputError(`this node already holds the authority key of mesh ${file.meshId}: a grant adds nothing`);
    await this.save({...file, invites: previous?.invites ?? []});
    this.deps.logger.info({meshId: file.meshId, kind: adminKind(file)}, 'admin key imported');
    return {meshId: file.meshId, kind: adminKind(file)};
  }

  private authorityFile(line: string): AdminFile {
    const {a} = adminLine(line, ADMIN_KEY_PREFIX, adminLineSchema, 'admin key');
    return AdminKeys.forAuthority(a);
  }

  private grantFile(line: string): AdminFile {
    const {a, g} = adminLine(line, ADMIN_GRANT_PREFIX, grantLineSchema, 'admin grant');
    const meshId = meshIdFromAuthorityKey(a);
    const chain = openAdminChain({authorityKey: a, grant: g}, meshId, this.deps.clock.now());
    if (typeof chain === 'string') throw new InvalidInputError(`not a valid admin grant: ${chain}`);
    const grant = openDocument(g, grantSchema, a, 'admin grant');
    if (typeof grant === 'string' || nodeIdFromSigningKey(grant.k) !== this.deps.identity.nodeId) {
      throw new InvalidInputError(`this admin grant is for another node's key, not this node (${this.deps.identity.nodeId})`);
    }
    const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
    return {version: 1, meshId, authorityKey: a, authorityPrivateKey: null, grant: {b: b64(g.b), s: b64(g.s)}, invites: []};
  }
}

/** Decode an admin key or grant line. @throws InvalidInputError saying what is wrong */
function adminLine<S extends z.ZodType>(line: string, prefix: string, schema: S, what: string): z.infer<S> {
  const value = decodeLine(line, prefix, schema, what);
  if (typeof value === 'string') throw new InvalidInputError(`not a valid ${what} line: ${value} (copy the whole line)`);
  return value;
}

/**
 * The node of a mesh named by `target`: its node id, its alias or its mesh
 * address, among the entries held (live or not).
 * @throws InvalidInputError when nothing, or more than one node, matches
 */
export function resolveNode(runtime: MeshRuntime, target: string): string {
  const wanted = target.trim().toLowerCase();
  if (/^[0-9a-f]{32}$/.test(wanted)) return wanted;
  const matches = runtime.store.records().filter((record) => record.alias === wanted || record.address === wanted);
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length > 1) throw new InvalidInputError(`'${target}' names ${matches.length} nodes of mesh ${runtime.meshId}: give a node id`);
  throw new InvalidInputError(`no node of mesh ${runtime.meshId} is named '${target}' (give a node id, alias or mesh address, as 'wgmesh mesh show' lists)`);
}

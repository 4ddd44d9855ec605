/**
 * This node's admin rights, one file per mesh: `<dataDir>/admin/<meshId>.json`
 * (mode 0600). It holds the mesh authority's private key (on the node that
 * created the mesh, or imported it) or an admin grant for this node's own key,
 * and the invites issued here (their ids and limits; never their keys, so an
 * invite line cannot be printed twice). Kept apart from the mesh's directory
 * so that an admin key can be imported before the node joins, and survives a leave.
 */
import {mkdir} from 'node:fs/promises';
import {join} from 'node:path';
import {z} from 'zod';
import {isMeshId} from '../addressing/mesh-id.js';
import {ed25519Signer, type NodeIdentity} from '../identity/identity.js';
import {ROLES} from '../model/record.js';
import {authorityAdmin, type MeshAdmin} from '../trust/admin.js';
import {meshIdFromAuthorityKey} from '../trust/credential.js';
import type {SignedDocument} from '../trust/documents.js';
import {readJsonFile, writeFileAtomic} from '../util/files.js';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/).max(4096);

/** An invite issued by this node, as remembered for `mesh invites`. */
export const issuedInviteSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{32}$/),
  role: z.enum(ROLES),
  uses: z.number().int().positive(),
  issuedAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
});
/** An invite issued by this node. */
export type IssuedInvite = z.infer<typeof issuedInviteSchema>;

/** Most issued invites remembered per mesh (the oldest expired ones are forgotten first). */
export const MAX_REMEMBERED_INVITES = 256;

const adminFileSchema = z.object({
  version: z.literal(1),
  meshId: z.string(),
  authorityKey: base64,
  /** The authority's private key (base64), when this node holds it. */
  authorityPrivateKey: base64.nullable(),
  /** A grant for this node's signing key, when it is an admin by grant. */
  grant: z.object({b: base64, s: base64}).nullable(),
  invites: z.array(issuedInviteSchema).max(MAX_REMEMBERED_INVITES),
});
/** What this node holds as an admin of one mesh. */
export type AdminFile = z.infer<typeof adminFileSchema>;

/** How this node is an admin of a mesh: it holds the authority key, or a grant. */
export type AdminKind = 'authority' | 'grant';

/** Reads and writes the admin files under a data dir. */
export class AdminKeys {
  private readonly dir: string;

  /** @param dataDir the daemon's data directory */
  constructor(dataDir: string) {
    this.dir = join(dataDir, 'admin');
  }

  private file(meshId: string): string {
    if (!isMeshId(meshId)) throw new Error(`not a mesh id: ${meshId}`);
    return join(this.dir, `${meshId}.json`);
  }

  /**
   * The admin file of a mesh, or undefined when this node is not its admin.
   * @throws DecodeError naming the file when it is damaged
   */
  async load(meshId: string): Promise<AdminFile | undefined> {
    const stored = await readJsonFile(this.file(meshId), adminFileSchema, 'admin key file');
    return stored?.meshId === meshId ? stored : undefined;
  }

  /** Write a mesh's admin file (atomically, mode 0600). */
  async save(file: AdminFile): Promise<void> {
    await mkdir(this.dir, {recursive: true, mode: 0o700});
    await writeFileAtomic(this.file(file.meshId), JSON.stringify(file, null, 2) + '\n', 0o600);
  }

  /** A new admin file for the holder of the authority key whose private half is `authorityPrivateKey`. */
  static forAuthority(authorityPrivateKey: string, invites: IssuedInvite[] = []): AdminFile {
    const authority = ed25519Signer(authorityPrivateKey);
    return {version: 1, meshId: meshIdFromAuthorityKey(authority.publicKey), authorityKey: authority.publicKey, authorityPrivateKey, grant: null, invites};
  }
}

/** How `file` makes this node an admin. */
export function adminKind(file: AdminFile): AdminKind {
  return file.authorityPrivateKey === null ? 'grant' : 'authority';
}

/** The admin that signs with what `file` holds: the authority's key, or this node's key under its grant. */
export function meshAdminFrom(file: AdminFile, identity: NodeIdentity): MeshAdmin {
  if (file.authorityPrivateKey !== null) return authorityAdmin(ed25519Signer(file.authorityPrivateKey));
  const grant: SignedDocument | null = file.grant && {b: Buffer.from(file.grant.b, 'base64'), s: Buffer.from(file.grant.s, 'base64')};
  return {meshId: file.meshId, signer: {publicKey: identity.signingKey, sign: (data) => identity.sign(data)}, chain: {authorityKey: file.authorityKey, grant}};
}

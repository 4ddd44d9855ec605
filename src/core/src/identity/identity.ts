/**
 * A daemon's identity: an Ed25519 key pair that signs its records and a
 * WireGuard (X25519) key pair. Created on first start, persisted 0600 in the
 * data dir, never logged.
 */
import {createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, sign, type KeyObject} from 'node:crypto';
import {createRequire} from 'node:module';
import {z} from 'zod';
import {DecodeError} from '../errors.js';
import {readJsonFile, writeFileAtomic} from '../util/files.js';

/** The public half of an identity: safe to log and to hand to plugins. */
export interface PublicIdentity {
  /** 32 hex digits: the first 16 bytes of SHA-256(Ed25519 public key). */
  readonly nodeId: string;
  /** Ed25519 public key, raw 32 bytes in base64. */
  readonly signingKey: string;
  /** WireGuard public key, exactly as `wg pubkey` prints it. */
  readonly wgPublicKey: string;
}

/** A WireGuard key pair an identity used until its last rotation. */
export interface RetiredWgKey {
  /** Its public key. */
  readonly publicKey: string;
  /** When it was replaced (ms on the clock of the daemon that rotated it). */
  readonly retiredAt: number;
}

/**
 * A full identity. `wgPrivateKey` goes only to the WireGuard driver. The
 * Ed25519 key (and with it the node id) never changes; the WireGuard key pair
 * changes with {@link NodeIdentity.rotateWgKey}, and every component reads
 * `wgPublicKey`, `wgPrivateKey` and {@link NodeIdentity.sharedKey} when it
 * uses them, so all of them follow a rotation at once.
 */
export interface NodeIdentity extends PublicIdentity {
  /** WireGuard private key in base64, as `wg genkey` prints. Never log it. */
  readonly wgPrivateKey: string;
  /** Sign bytes with the Ed25519 key. */
  sign(data: Uint8Array): Uint8Array;
  /**
   * The Ed25519 private key as a key object, for the transport's TLS identity
   * only (a TLS handshake signs with the key itself). Never log or store it.
   */
  tlsPrivateKey(): KeyObject;
  /**
   * A 32-byte key shared with the holder of the WireGuard public key
   * `peerWgPublicKeyBase64` (X25519 ECDH, then HKDF-SHA256 with info
   * {@link SHARED_KEY_INFO}); both ends derive the same key. Used to
   * authenticate cheap control messages (heartbeats) without a signature.
   * `ownWgPublicKey` picks this node's side: the current key pair (the
   * default) or the retired one ({@link retiredWgKey}).
   * @throws DecodeError when the peer key is not 32 bytes or is a low-order point (all-zero secret)
   * @throws Error when `ownWgPublicKey` is neither the current nor the retired public key
   */
  sharedKey(peerWgPublicKeyBase64: string, ownWgPublicKey?: string): Uint8Array;
  /**
   * The key pair the last {@link rotateWgKey} replaced, or undefined. Kept in
   * memory only (never stored), so that members that have not yet learned
   * the new key can still be understood for a while (liveness-auth.ts).
   */
  readonly retiredWgKey: RetiredWgKey | undefined;
  /**
   * Use `wgPrivateKey` as the WireGuard key from now on; the current pair
   * becomes {@link retiredWgKey}, retired at `at`. In memory only: storing the
   * key first is the caller's job ({@link storeWgPrivateKey}).
   * @throws DecodeError when the key is not 32 bytes in base64
   */
  rotateWgKey(wgPrivateKey: string, at: number): void;
}

/** HKDF `info` of {@link NodeIdentity.sharedKey}: binds the key to this one use. */
export const SHARED_KEY_INFO = 'wgmesh-control-mac';

// DER prefixes for raw 32-byte keys (RFC 8410): lets us move between node:crypto
// KeyObjects and the raw base64 form WireGuard and our records use.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

const rawTail = (der: Buffer): Buffer => der.subarray(der.length - 32);
/** The raw public key (base64) of a private KeyObject. */
const rawPublic = (key: KeyObject): string => rawTail(createPublicKey(key).export({format: 'der', type: 'spki'})).toString('base64');
/** An Ed25519 private KeyObject from its raw 32 bytes. */
const ed25519Private = (raw: Buffer): KeyObject => createPrivateKey({key: Buffer.concat([ED25519_PKCS8, raw]), format: 'der', type: 'pkcs8'});

/** X25519 + HKDF for {@link NodeIdentity.sharedKey}. */
function deriveSharedKey(wgPrivate: KeyObject, peerWgPublicKeyBase64: string): Uint8Array {
  const raw = Buffer.from(peerWgPublicKeyBase64, 'base64');
  if (raw.length !== 32) throw new DecodeError('a WireGuard public key is 32 bytes in base64');
  // JWK import, not DER: OpenSSL 3's DER decoder costs ~190 µs a key.
  const peer = createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: raw.toString('base64url')}, format: 'jwk'});
  let secret: Buffer;
  try {
    secret = diffieHellman({privateKey: wgPrivate, publicKey: peer});
  } catch {
    // OpenSSL refuses some low-order points itself.
    secret = Buffer.alloc(32);
  }
  // A low-order peer key gives an all-zero secret that anyone can compute.
  if (secret.every((byte) => byte === 0)) throw new DecodeError('the WireGuard public key is a low-order point');
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), SHARED_KEY_INFO, 32));
}

/** The node id that belongs to an Ed25519 public key (raw, base64). */
export function nodeIdFromSigningKey(signingKeyBase64: string): string {
  return createHash('sha256').update(Buffer.from(signingKeyBase64, 'base64')).digest().subarray(0, 16).toString('hex');
}

/** The WireGuard public key for a WireGuard private key, both base64 (what `wg pubkey` does). */
export function wgPublicKeyFromPrivate(privateKeyBase64: string): string {
  const raw = Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32) throw new DecodeError('a WireGuard private key is 32 bytes in base64');
  return rawPublic(createPrivateKey({key: Buffer.concat([X25519_PKCS8, raw]), format: 'der', type: 'pkcs8'}));
}

/** The part of sodium-native (libsodium's bindings) that verifies. */
interface Libsodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

let libsodium: Libsodium | undefined;

/**
 * libsodium, loaded on the first verification: loading it costs a command
 * that verifies nothing about 25 ms of its start.
 */
function loadLibsodium(): Libsodium {
  libsodium ??= createRequire(import.meta.url)('sodium-native') as Libsodium;
  return libsodium;
}

/**
 * Verify an Ed25519 signature by a raw base64 public key. Never throws on bad input;
 * throws when libsodium cannot be loaded.
 *
 * Every node verifies with libsodium, for two reasons: its check is about
 * 2.5x faster than OpenSSL's (a join checks two signatures an entry), and
 * it is the stricter one (it refuses small-order keys and non-canonical
 * encodings that OpenSSL lets through), so that no signature is good on
 * some nodes and bad on others, which would split the replicas' state.
 */
export function verifySignature(signingKeyBase64: string, data: Uint8Array, signature: Uint8Array): boolean {
  // Outside the catch: a libsodium that cannot load fails loudly, not as a bad signature.
  const sodium = loadLibsodium();
  try {
    const raw = Buffer.from(signingKeyBase64, 'base64');
    if (raw.length !== 32 || signature.byteLength !== 64) return false;
    return sodium.crypto_sign_verify_detached(signature, data, raw);
  } catch {
    return false;
  }
}

const identityFileSchema = z.object({
  version: z.literal(1),
  signingPrivateKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  wgPrivateKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
});

/** A WireGuard key pair in the forms an identity needs. */
interface WgKeyPair {
  privateKey: string;
  publicKey: string;
  object: KeyObject;
}

function wgKeyPair(privateKey: string): WgKeyPair {
  // Checks the key's length (DecodeError) before the key object is made.
  const publicKey = wgPublicKeyFromPrivate(privateKey);
  const object = createPrivateKey({key: Buffer.concat([X25519_PKCS8, Buffer.from(privateKey, 'base64')]), format: 'der', type: 'pkcs8'});
  return {privateKey, publicKey, object};
}

function identityFromKeys(signingPrivateRaw: Buffer, wgPrivateKey: string): NodeIdentity {
  const signingPrivate = ed25519Private(signingPrivateRaw);
  const signingKey = rawPublic(signingPrivate);
  let current = wgKeyPair(wgPrivateKey);
  let retired: (WgKeyPair & {retiredAt: number}) | undefined;
  const own = (publicKey: string | undefined): WgKeyPair => {
    if (publicKey === undefined || publicKey === current.publicKey) return current;
    if (publicKey === retired?.publicKey) return retired;
    throw new Error('not a WireGuard key of this identity');
  };
  const identity: NodeIdentity = {
    nodeId: nodeIdFromSigningKey(signingKey),
    signingKey,
    get wgPublicKey() {
      return current.publicKey;
    },
    get wgPrivateKey() {
      return current.privateKey;
    },
    get retiredWgKey() {
      return retired && {publicKey: retired.publicKey, retiredAt: retired.retiredAt};
    },
    sign: (data) => new Uint8Array(sign(null, data, signingPrivate)),
    tlsPrivateKey: () => signingPrivate,
    sharedKey: (peer, ownPublicKey) => deriveSharedKey(own(ownPublicKey).object, peer),
    rotateWgKey: (privateKey, at) => {
      const next = wgKeyPair(privateKey);
      retired = {...current, retiredAt: at};
      current = next;
    },
  };
  // Keep the private key out of JSON.stringify and util.inspect, so it cannot
  // end up in a log line by accident.
  Object.defineProperty(identity, 'wgPrivateKey', {enumerable: false});
  return identity;
}

/** A fresh private key of `type`, raw 32 bytes in base64. */
function rawPrivateKey(type: 'ed25519' | 'x25519'): string {
  return rawTail(generateKeyPairSync(type as 'ed25519').privateKey.export({format: 'der', type: 'pkcs8'})).toString('base64');
}

/** Fresh private keys, raw 32 bytes each in base64. */
function newKeyMaterial(): {signingPrivateKey: string; wgPrivateKey: string} {
  return {signingPrivateKey: rawPrivateKey('ed25519'), wgPrivateKey: generateWgPrivateKey()};
}

/** A fresh WireGuard private key in base64 (what `wg genkey` prints). */
export function generateWgPrivateKey(): string {
  return rawPrivateKey('x25519');
}

/**
 * Make a new identity in memory (tests, simulations). With `randomBytes`
 * (a seeded source, say) the keys come from it, so a simulation's node ids and
 * ring positions are the same on every run.
 */
export function generateIdentity(randomBytes?: (length: number) => Uint8Array): NodeIdentity {
  if (randomBytes) return identityFromKeys(Buffer.from(randomBytes(32)), Buffer.from(randomBytes(32)).toString('base64'));
  const keys = newKeyMaterial();
  return identityFromKeys(Buffer.from(keys.signingPrivateKey, 'base64'), keys.wgPrivateKey);
}

/**
 * The identity stored at `file`, or `undefined` when there is none.
 * @throws DecodeError naming the file when it is not a valid identity file.
 */
export async function loadIdentity(file: string): Promise<NodeIdentity | undefined> {
  const stored = await readJsonFile(file, identityFileSchema, 'identity file');
  return stored && identityFromKeys(Buffer.from(stored.signingPrivateKey, 'base64'), stored.wgPrivateKey);
}

/** Make a new identity and store it at `file` (mode 0600). */
export async function createIdentity(file: string): Promise<NodeIdentity> {
  const keys = newKeyMaterial();
  await writeFileAtomic(file, JSON.stringify({version: 1, ...keys}, null, 2) + '\n', 0o600);
  return identityFromKeys(Buffer.from(keys.signingPrivateKey, 'base64'), keys.wgPrivateKey);
}

/**
 * Replace the WireGuard private key stored in the identity file `file` of
 * `identity` with `wgPrivateKey` (atomically, mode 0600); the signing key is
 * kept as it is.
 * @throws DecodeError when the file is missing, invalid, or holds another node's identity
 */
export async function storeWgPrivateKey(file: string, identity: PublicIdentity, wgPrivateKey: string): Promise<void> {
  wgPublicKeyFromPrivate(wgPrivateKey);
  const stored = await readJsonFile(file, identityFileSchema, 'identity file');
  if (!stored) throw new DecodeError(`the identity file ${file} is missing: restore it from a backup and restart the daemon`);
  if (nodeIdFromSigningKey(rawPublic(ed25519Private(Buffer.from(stored.signingPrivateKey, 'base64')))) !== identity.nodeId) {
    throw new DecodeError(`the identity file ${file} holds another node's identity than the running daemon's (${identity.nodeId}): restore the right file and restart the daemon`);
  }
  await writeFileAtomic(file, JSON.stringify({version: 1, signingPrivateKey: stored.signingPrivateKey, wgPrivateKey}, null, 2) + '\n', 0o600);
}

/**
 * Load the identity stored at `file`, or create and store a new one (mode 0600)
 * when there is none.
 */
export async function loadOrCreateIdentity(file: string): Promise<NodeIdentity> {
  return (await loadIdentity(file)) ?? createIdentity(file);
}

/** An Ed25519 key that signs (a mesh authority, an invite): its raw keys in base64. */
export interface Ed25519Signer {
  /** The public key, raw 32 bytes in base64. */
  readonly publicKey: string;
  /** The private key, raw 32 bytes in base64. A secret: never log it. */
  readonly privateKey: string;
  /** Sign bytes. */
  sign(data: Uint8Array): Uint8Array;
}

/**
 * An Ed25519 signer from a raw private key in base64, or a new one.
 * @throws DecodeError when the private key is not 32 bytes in base64
 */
export function ed25519Signer(privateKeyBase64?: string): Ed25519Signer {
  const raw = privateKeyBase64 === undefined ? Buffer.from(newKeyMaterial().signingPrivateKey, 'base64') : Buffer.from(privateKeyBase64, 'base64');
  if (raw.length !== 32) throw new DecodeError('an Ed25519 private key is 32 bytes in base64');
  const key = ed25519Private(raw);
  const signer: Ed25519Signer = {
    publicKey: rawPublic(key),
    privateKey: raw.toString('base64'),
    sign: (data) => new Uint8Array(sign(null, data, key)),
  };
  Object.defineProperty(signer, 'privateKey', {enumerable: false});
  return signer;
}

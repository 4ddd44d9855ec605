/**
 * Mesh identifiers: 128 random bits as 26 lower-case base32 characters, so an id
 * is URL-safe and a valid DNS label that survives DNS case folding.
 */
import {InvalidInputError} from '../errors.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** The exact shape of a mesh id. */
export const MESH_ID_PATTERN = /^[a-z2-7]{26}$/;

/** Lower-case RFC 4648 base32 without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * A fresh random mesh id (128 bits). `random` defaults to the OS CSPRNG, through
 * the Web Crypto global: Node loads its crypto modules when it is first used,
 * not when a CLI command that only checks mesh ids loads this module.
 */
export function generateMeshId(random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n))): string {
  return base32(random(16)).slice(0, 26);
}

/** True when `text` is a well-formed mesh id. */
export function isMeshId(text: string): boolean {
  return MESH_ID_PATTERN.test(text);
}

/**
 * Check a mesh id given by a user or a peer.
 * @throws InvalidInputError naming the id and the expected format.
 */
export function assertMeshId(text: string): string {
  if (!isMeshId(text)) {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new InvalidInputError(
      `'${shown}' is not a mesh id: expected 26 characters from a-z and 2-7 (as printed by 'wgmesh mesh create')`,
    );
  }
  return text;
}

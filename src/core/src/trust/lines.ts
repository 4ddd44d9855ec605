/**
 * One-line texts a user copies between machines (invites, admin keys, admin
 * grants): a fixed prefix naming the kind and format version, then a
 * MessagePack value in base64url. Decoding checks the prefix, the length and
 * the alphabet before any byte is decoded, and the value's shape after.
 */
import type {z} from 'zod';
import {decode, encode} from '../util/codec.js';

/** Longest line accepted. */
export const MAX_LINE_LENGTH = 8192;

/** `prefix` followed by `value` as MessagePack in base64url. */
export function encodeLine(prefix: string, value: unknown): string {
  return prefix + Buffer.from(encode(value)).toString('base64url');
}

/**
 * Decode a line made by {@link encodeLine} (surrounding blanks ignored).
 * @returns the value, or a string saying what is wrong with the line
 */
export function decodeLine<S extends z.ZodType>(text: string, prefix: string, schema: S, what: string): z.infer<S> | string {
  const line = text.trim();
  if (!line.startsWith(prefix)) return `it does not start with '${prefix}'`;
  if (line.length > MAX_LINE_LENGTH) return `it is longer than ${MAX_LINE_LENGTH} characters`;
  const body = line.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return 'it holds characters that are not base64url';
  try {
    return decode(Buffer.from(body, 'base64url'), schema, what);
  } catch (error) {
    return `it does not decode (${(error as Error).message})`;
  }
}

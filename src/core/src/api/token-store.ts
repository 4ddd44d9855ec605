/**
 * The HTTP API's bearer token: `<dataDir>/api-token`, mode 0600, made on first
 * use (`wgmesh_` + 32 random bytes in base64url). Requests are checked against
 * the token held in memory, in constant time; rotating writes a new file and
 * tells the listeners (open event streams end), so the old token is refused at
 * once.
 */
import {createHash, randomBytes, timingSafeEqual} from 'node:crypto';
import {chmod, stat} from 'node:fs/promises';
import {join} from 'node:path';
import type {Logger} from '../contracts/logger.js';
import {readOptionalFile, writeFileAtomic} from '../util/files.js';

/** The token file's name in the data dir. */
export const API_TOKEN_FILE = 'api-token';

/** What a token looks like: the prefix makes a leaked one easy to recognise (secret scanners). */
const TOKEN_FORMAT = /^wgmesh_[A-Za-z0-9_-]{43}$/;

/** A new random token. */
export function newApiToken(): string {
  return `wgmesh_${randomBytes(32).toString('base64url')}`;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The token of one daemon, read or made once, then held in memory. */
export class ApiTokenStore {
  /** The token file. */
  readonly path: string;
  private readonly logger: Logger;
  private token: string | undefined;
  private expected: Buffer | undefined;
  private loading: Promise<string> | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(options: {dataDir: string; logger: Logger}) {
    this.path = join(options.dataDir, API_TOKEN_FILE);
    this.logger = options.logger;
  }

  /**
   * The token: read from the file, or made and written (0600) when there is
   * none or it is not a token. A file readable by others is made 0600.
   */
  async current(): Promise<string> {
    if (this.token !== undefined) return this.token;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<string> {
    const text = (await readOptionalFile(this.path))?.toString('utf8').trim();
    if (text !== undefined && TOKEN_FORMAT.test(text)) {
      const {mode} = await stat(this.path);
      if ((mode & 0o077) !== 0) {
        await chmod(this.path, 0o600);
        this.logger.warn({path: this.path}, 'the API token file was readable by other users: made it mode 0600 (rotate the token if others may have read it)');
      }
      this.hold(text);
      return text;
    }
    if (text !== undefined) this.logger.warn({path: this.path}, 'the API token file does not hold a token: writing a new one');
    return this.replace();
  }

  /** Write a new token and hold it; the listeners hear of it (the old one is refused from now on). */
  async rotate(): Promise<string> {
    const token = await this.replace();
    for (const listener of this.listeners) listener();
    this.logger.info({path: this.path}, 'API token rotated');
    return token;
  }

  private async replace(): Promise<string> {
    const token = newApiToken();
    await writeFileAtomic(this.path, `${token}\n`, 0o600);
    this.hold(token);
    return token;
  }

  private hold(token: string): void {
    this.token = token;
    this.expected = digest(token);
  }

  /**
   * True when `presented` is the token. Compared as SHA-256 digests with
   * `timingSafeEqual`, so neither the content nor the length leaks through time.
   * False before the token was loaded ({@link current}).
   */
  verify(presented: string): boolean {
    const expected = this.expected;
    if (expected === undefined) return false;
    return timingSafeEqual(digest(presented), expected);
  }

  /** Call `listener` after each rotation. Returns the unsubscribe function. */
  onRotate(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

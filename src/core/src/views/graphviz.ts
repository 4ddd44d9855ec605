/** Rendering DOT with Graphviz's `dot` program, found on PATH (`mesh graph` and the HTTP API's graph). */
import {spawn} from 'node:child_process';
import {accessSync, constants, statSync} from 'node:fs';
import {delimiter, join} from 'node:path';
import {GraphvizError, MissingToolError} from '../errors.js';

/** Image formats `dot` renders for `mesh graph`. */
export const RENDER_FORMATS = ['svg', 'png'] as const;
/** An image format `dot` renders. */
export type RenderFormat = (typeof RENDER_FORMATS)[number];

/** How to install Graphviz, for the error when it is missing. */
export const GRAPHVIZ_INSTALL_HINT = 'Debian/Ubuntu: apt-get install graphviz; Fedora: dnf install graphviz; macOS: brew install graphviz';

/** How long `dot` may take before it is stopped. */
const RENDER_TIMEOUT_MS = 60_000;

/** The absolute path of executable `name` in the directories of `pathEnv` (a PATH value), if any. */
export function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The `dot` program, or a one-line error saying how to install it.
 * @throws MissingToolError
 */
export function requireDot(format: RenderFormat, pathEnv: string | undefined): string {
  const found = findExecutable('dot', pathEnv);
  if (found === undefined) throw new MissingToolError('dot', `--format ${format}`, `install Graphviz (${GRAPHVIZ_INSTALL_HINT}), or print DOT with --format dot`);
  return found;
}

/**
 * Render `dot` text to `format` with the `dot` program at `executable`.
 * @throws GraphvizError with the first line `dot` printed, when it fails or takes too long
 */
export function renderDot(executable: string, dot: string, format: RenderFormat): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, [`-T${format}`], {stdio: ['pipe', 'pipe', 'pipe'], timeout: RENDER_TIMEOUT_MS});
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', (error) => reject(new GraphvizError(`could not run ${executable}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const reason = signal === null ? `exited with ${code}` : `was stopped by ${signal}`;
        const detail = err.trim().split('\n')[0];
        reject(new GraphvizError(`Graphviz (${executable}) ${reason}${detail ? `: ${detail}` : ''}`));
      }
    });
    // `dot` may exit before reading everything (a syntax error): that is reported by 'close', not as EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(dot);
  });
}

/**
 * The dashboard's static files, served without authentication (the page signs
 * in itself) under a strict Content-Security-Policy: scripts, styles and
 * connections to this origin only, nothing inline, no framing.
 */
import {readFile} from 'node:fs/promises';
import {extname, join} from 'node:path';
import type {Context} from 'hono';

/** The policy of every dashboard file. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** File names an asset may have: no directories, no dot files. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Headers of every dashboard answer. */
const SECURITY_HEADERS = {'Content-Security-Policy': DASHBOARD_CSP, 'X-Frame-Options': 'DENY'};

/**
 * Answer with `file` (`index.html` or `assets/NAME`) from `dir`: 404 when the
 * name is not a plain file name of a known type, or the file is missing; the
 * index says the dashboard was not built when it is missing.
 */
export async function serveDashboard(c: Context, dir: string | undefined, file: string): Promise<Response> {
  const name = file.startsWith('assets/') ? file.slice('assets/'.length) : file;
  const type = CONTENT_TYPES[extname(name)];
  const notFound = (text: string): Response => c.text(text, 404, SECURITY_HEADERS);
  if (!ASSET_NAME.test(name) || type === undefined) return notFound('not found\n');
  let body: Buffer;
  try {
    if (dir === undefined) throw Object.assign(new Error('no dashboard directory'), {code: 'ENOENT'});
    body = await readFile(join(dir, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') throw error;
    return notFound(file === 'index.html' ? 'the dashboard was not built: run `npm run build` in the wgmesh source (it writes dist/dashboard), or use the API under /api/v1\n' : 'not found\n');
  }
  // Revalidated on every load: after an upgrade the page and its assets must come from the same build.
  return c.body(new Uint8Array(body), 200, {...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-cache'});
}

/**
 * Error codes across the whole source tree (core, CLI, plugins): each class
 * declares its code once, no two classes share one, and no runtime code
 * makes an error from a string code or tells errors apart by comparing codes
 * (it uses `instanceof`). Node's own error codes (ENOENT, ERR_...) are not
 * wgmesh codes and may be compared.
 */
import {readdirSync, readFileSync} from 'node:fs';
import {join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The runtime sources: src/ and each plugin's src/ (tests and generated output excluded). */
function runtimeSources(): {file: string; text: string}[] {
  const dirs = [join(root, 'src'), ...readdirSync(join(root, 'plugins')).map((plugin) => join(root, 'plugins', plugin, 'src'))];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, {withFileTypes: true})) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['node_modules', 'dist', 'gen', 'test'].includes(entry.name)) walk(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const dir of dirs) {
    try {
      walk(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return files.map((file) => ({file: relative(root, file), text: readFileSync(file, 'utf8')}));
}

const sources = runtimeSources();

/** `static override readonly code = 'X'`: where each class declares its code. */
const DECLARATION = /static\s+(?:override\s+)?readonly\s+code\s*(?::\s*string\s*)?=\s*'([^']*)'/g;

function declaredCodes(): Map<string, string[]> {
  const declared = new Map<string, string[]>();
  for (const {file, text} of sources) {
    for (const match of text.matchAll(DECLARATION)) declared.set(match[1]!, [...(declared.get(match[1]!) ?? []), file]);
  }
  return declared;
}

/** A code Node or OpenSSL uses for its own errors. */
function isSystemCode(code: string): boolean {
  return /^E[A-Z0-9]+$/.test(code) || code.startsWith('ERR_');
}

/** Every place in `text` where `pattern` matches, as `file:line: text`. */
function hits(file: string, text: string, pattern: RegExp, keep: (match: RegExpMatchArray) => boolean = () => true): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(pattern)) {
    if (!keep(match)) continue;
    const line = text.slice(0, match.index).split('\n').length;
    found.push(`${file}:${line}: ${match[0]}`);
  }
  return found;
}

describe('error codes in the sources', () => {
  const declared = declaredCodes();

  it('are declared once each, by one class', () => {
    expect(declared.size).toBeGreaterThan(50);
    for (const code of declared.keys()) expect(code).toMatch(/^[A-Z][A-Z0-9_]{1,63}$/);
    expect([...declared].filter(([, files]) => files.length > 1)).toEqual([]);
  });

  it('are never compared as strings: errors are told apart by class', () => {
    const comparisons = sources.flatMap(({file, text}) => [
      // `x.code === 'X'`, `code !== 'X'`: a wgmesh code, or anything shaped like one that is not a system code.
      ...hits(file, text, /\bcode\s*[!=]==?\s*'([A-Z][A-Z0-9_]*)'/g, (m) => declared.has(m[1]!) || !isSystemCode(m[1]!)),
      ...hits(file, text, /'([A-Z][A-Z0-9_]*)'\s*[!=]==?\s*[\w.?]*\bcode\b/g, (m) => declared.has(m[1]!) || !isSystemCode(m[1]!)),
      // `case 'X':` in a switch over codes.
      ...hits(file, text, /\bcase\s+'([A-Z][A-Z0-9_]*)'\s*:/g, (m) => declared.has(m[1]!)),
    ]);
    expect(comparisons).toEqual([]);
  });

  it('never make an error from a string code: each error is of a class with its own', () => {
    const adHoc = sources.flatMap(({file, text}) => [
      ...hits(file, text, /new\s+WgmeshError\s*\(/g),
      ...(file.endsWith(join('core', 'src', 'errors.ts')) ? [] : hits(file, text, /new\s+RemoteError\s*\(/g)),
      // A subclass handing its base a code instead of declaring one.
      ...hits(file, text, /super\(\s*'[A-Z][A-Z0-9_]*'\s*,/g),
    ]);
    expect(adHoc).toEqual([]);
  });
});

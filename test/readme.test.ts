/** The README is the user's manual: it must document every config key and every command. */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {configKeyDocs} from '@wgmesh/core';
import {describe, expect, it} from 'vitest';
import {ROOT} from './helpers/cli.js';

describe('README', () => {
  it('documents every config key with its default', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    for (const doc of configKeyDocs) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${doc.key}\` |`));
      expect(row, `README row for ${doc.key}`).toBeDefined();
      const plain = (text: string): string => text.replace(/`/g, '');
      expect(plain(row ?? '')).toContain(plain(doc.default));
      expect(plain(row ?? '')).toContain(plain(doc.description));
    }
  });

  it('documents every command', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const manifest = JSON.parse(await readFile(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>};
    for (const id of Object.keys(manifest.commands)) {
      expect(readme, `README mentions wgmesh ${id.replace(/:/g, ' ')}`).toContain(`wgmesh ${id.replace(/:/g, ' ')}`);
    }
  });
});

#!/usr/bin/env node
// Writes oclif.manifest.json for the CLI (what `oclif manifest` does), so that
// oclif reads command metadata from one JSON file instead of importing every
// command module (and with them all of core) on each start. Run by `npm run build`.
import {Plugin} from '@oclif/core/config';
import {writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true});
await plugin.load();
await writeFile(join(root, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2) + '\n');
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);

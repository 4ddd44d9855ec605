#!/usr/bin/env node
/**
 * Bundle each command that needs no plugins (its manifest entry says
 * `pluginsNeeded: false`: the daemon-client commands) into dist/quick/, one
 * entry module per command exporting `commands = {id: Command}`, the code they
 * share split into common chunks. bin/run.js starts such a command from its
 * entry alone (src/cli/load-options.ts): Node then loads a few files instead of
 * ~20 modules of the CLI and of core's client, and oclif learns of that one
 * command only, so it neither reads the whole manifest nor sorts it.
 *
 * dist/quick/index.json lists the bundled commands with what a start needs of
 * their manifest entries, so that such a start does not read the manifest.
 *
 * Only the CLI's and core's modules are bundled. oclif stays outside: every
 * command and bin/run.js share the one copy dist/cli/oclif.js loads; so do the
 * other dependencies, which load from node_modules as for any other command.
 * Run by `npm run build`, after tsc and scripts/oclif-manifest.js.
 */
import {readFileSync} from 'node:fs';
import {rm, writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';
import {QUICK_COMMANDS_DIR, QUICK_INDEX_FILE, declaresArgs, quickCommandFile} from '../dist/cli/load-options.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8'));
const candidates = Object.entries(manifest.commands)
  .filter(([, command]) => command.pluginsNeeded === false)
  .map(([id]) => id);
/** The compiled module of command `id`: `mesh:list` -> dist/commands/mesh/list.js. */
const commandModule = (id) => join(root, 'dist', 'commands', ...id.split(':')) + '.js';
const oclifWrapper = join(root, 'dist', 'cli', 'oclif.js');
const outdir = join(root, QUICK_COMMANDS_DIR);

/** Bundle the entries of commands `ids`; the build's metafile. */
async function bundle(ids) {
  await rm(outdir, {recursive: true, force: true});
  const result = await build({
    // One virtual entry per command, named as load-options.ts looks it up.
    entryPoints: Object.fromEntries(ids.map((id) => [quickCommandFile(id).replace(/\.js$/, ''), `quick-command:${id}`])),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Less source to read and pre-parse on every start; names stay as they are.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'inline',
    logLevel: 'warning',
    metafile: true,
    plugins: [
      {
        name: 'quick-commands',
        setup(builder) {
          builder.onResolve({filter: /^quick-command:/}, (args) => ({path: args.path.slice('quick-command:'.length), namespace: 'quick-command'}));
          builder.onLoad({filter: /.*/, namespace: 'quick-command'}, (args) => ({
            contents: `import command from ${JSON.stringify(commandModule(args.path))};\nexport const commands = {${JSON.stringify(args.path)}: command};\n`,
            resolveDir: root,
            loader: 'js',
          }));
          // The one copy of oclif, imported from where the bundles are.
          builder.onResolve({filter: /(^|\/)oclif\.js$/}, (args) =>
            join(args.resolveDir, args.path) === oclifWrapper ? {path: '../cli/oclif.js', external: true} : undefined,
          );
          // Dependencies load from node_modules as they do for the other commands; only core is bundled.
          builder.onResolve({filter: /^[^./]/}, (args) => (args.path.startsWith('@wgmesh/core') ? undefined : {path: args.path, external: true}));
        },
      },
    ],
  });
  return result.metafile;
}

/** Every package an output of `metafile` imports, with the chunks it imports, statically or not. */
function packagesImported(metafile, output, seen = new Set()) {
  if (seen.has(output)) return [];
  seen.add(output);
  return metafile.outputs[output].imports.flatMap((imported) =>
    imported.external ? [imported.path] : packagesImported(metafile, imported.path, seen),
  );
}

// A command whose modules import another @wgmesh package (a driver, say) is left out: that package
// imports core from node_modules, and two copies of core in one process would not know each other's
// classes. It starts from the manifest, still without plugins.
const first = await bundle(candidates);
const ids = candidates.filter((id) => {
  const entry = Object.keys(first.outputs).find((output) => output.endsWith(`/${quickCommandFile(id)}`));
  return !packagesImported(first, entry).some((name) => name.startsWith('@wgmesh/'));
});
if (ids.length < candidates.length) await bundle(ids);
// What a start reads instead of the manifest for these commands (load-options.ts).
const index = Object.fromEntries(ids.map((id) => [id, {takesArgs: declaresArgs(manifest.commands[id])}]));
await writeFile(join(outdir, QUICK_INDEX_FILE), JSON.stringify(index) + '\n');
console.log(`${QUICK_COMMANDS_DIR}: ${ids.length} commands (${candidates.filter((id) => !ids.includes(id)).join(', ') || 'none'} from the manifest)`);

/**
 * oclif's `command_not_found` hook: names the unknown command as the user
 * typed it (`wgmesh mesh crate`) and suggests the closest known command.
 * Exits 127 ("command not found", as shells do).
 */
import type {Hook} from '@oclif/core/hooks';
import {Errors} from '../oclif.js';
import {commandNotFound} from '../suggest.js';

const hook: Hook<'command_not_found'> = async function (options) {
  const words = [...options.id.split(':'), ...(options.argv ?? [])].filter((word) => !word.startsWith('-'));
  const commands = options.config.commands.filter((command) => !command.hidden).map((command) => command.id);
  const topics = options.config.topics.map((topic) => topic.name);
  const {typed, suggestion} = commandNotFound(words, commands, topics);
  const bin = options.config.bin;
  const hint = suggestion === undefined ? `see \`${bin} help\` for the commands` : `did you mean \`${bin} ${suggestion}\`?`;
  // One line, as every wgmesh error (oclif's own output would wrap it and indent it).
  process.stderr.write(`Error: \`${bin} ${typed}\` is not a wgmesh command; ${hint}\n`);
  throw new Errors.ExitError(127);
};

export default hook;

/**
 * `ip` and `wg`: the two tools the kernel driver runs, found on PATH and
 * runnable. A missing one is named with its Debian package.
 */
import {CommandError} from '@wgmesh/wg-kernel';
import {fail, ok, type CheckResult, type DoctorCheck} from '../check.js';
import type {DoctorContext} from '../context.js';
import {kernelDriverConfig} from '../wireguard-host.js';

/** The tools, with the arguments that make each print its version and exit. */
const TOOLS: readonly {command: string; args: string[]; fix: string}[] = [
  {command: 'ip', args: ['-V'], fix: 'apt-get install iproute2'},
  {command: 'wg', args: ['--version'], fix: 'apt-get install wireguard-tools'},
];

async function probe(context: DoctorContext, tool: (typeof TOOLS)[number], signal: AbortSignal): Promise<CheckResult> {
  try {
    const {stdout} = await context.runner.run(tool.command, tool.args, {signal});
    return ok(tool.command, stdout.trim().split('\n')[0]?.slice(0, 120) || `${tool.command} runs`);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    const missing = error instanceof CommandError && error.kind === 'missing';
    return fail(tool.command, why, missing ? tool.fix : `check that '${tool.command}' on PATH is the right program (${tool.fix})`);
  }
}

/** One line for each of `ip` and `wg`. */
export const toolsCheck: DoctorCheck = {
  name: 'tools',
  async run(context, signal) {
    const results: CheckResult[] = [];
    for (const tool of TOOLS) {
      const driver = await kernelDriverConfig(context, tool.command);
      results.push('skipped' in driver ? driver.skipped : await probe(context, tool, signal));
    }
    return results;
  },
};

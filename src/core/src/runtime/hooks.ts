/**
 * The user's preUp/postUp/preDown/postDown commands. Each runs through
 * `/bin/sh -c` (so pipes and `&&` work, as in wg-quick), one after the other,
 * with the interface and mesh in the environment. A failing command is logged
 * and does not abort what it surrounds: a broken hook must not cut a node off.
 */
import {execFile} from 'node:child_process';
import type {Logger} from '../contracts/logger.js';

/** Longest a single hook command may run. */
const HOOK_TIMEOUT_MS = 30_000;

/** Which hook is running (for logs). */
export type HookStage = 'preUp' | 'postUp' | 'preDown' | 'postDown';

/** Run `commands` in order; failures are logged, never thrown. */
export async function runHooks(stage: HookStage, commands: readonly string[], context: {interfaceName: string; meshId: string; logger: Logger}): Promise<void> {
  for (const command of commands) {
    await new Promise<void>((resolve) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        {timeout: HOOK_TIMEOUT_MS, env: {...process.env, WGMESH_INTERFACE: context.interfaceName, WGMESH_MESH_ID: context.meshId}},
        (error, stdout, stderr) => {
          if (error) {
            context.logger.warn({stage, command, code: error.code, stderr: stderr.slice(0, 500)}, `${stage} command failed; continuing`);
          } else {
            context.logger.info({stage, command, stdout: stdout.slice(0, 500)}, `${stage} command ran`);
          }
          resolve();
        },
      );
    });
  }
}

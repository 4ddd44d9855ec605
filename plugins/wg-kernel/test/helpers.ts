/** Shared helpers of the wg-kernel tests: a recording command runner, key pairs, and bounded waits. */
import type {ChildProcess} from 'node:child_process';
import {setTimeout as delay} from 'node:timers/promises';
import {generateIdentity} from '@wgmesh/core';
import type {CommandOutput, CommandRunner, RunOptions, SpawnChildOptions} from '../src/runner.js';

/** One command a driver ran. */
export interface RecordedCall {
  command: string;
  args: string[];
  /** Whether something was written to its stdin (a private key). */
  hadInput: boolean;
}

/** Wraps a runner and records every command, so tests can see what the driver touched. */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly inner: CommandRunner;

  constructor(inner: CommandRunner) {
    this.inner = inner;
  }

  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandOutput> {
    this.calls.push({command, args: [...args], hadInput: options?.input !== undefined});
    return this.inner.run(command, args, options);
  }

  spawn(command: string, args: readonly string[], options?: SpawnChildOptions): ChildProcess {
    this.calls.push({command, args: [...args], hadInput: false});
    return this.inner.spawn(command, args, options);
  }

  /** Forget what was recorded so far. */
  reset(): void {
    this.calls.length = 0;
  }

  /** The recorded commands that change state (`wg set`, `ip addr add|del`, `ip route add|del`, `ip link add|set|del`). */
  mutations(): RecordedCall[] {
    return this.calls.filter(
      (call) =>
        (call.command === 'wg' && call.args[0] === 'set') ||
        (call.command === 'ip' && ['addr', 'route', 'link'].includes(call.args[0] ?? '') && ['add', 'del', 'set', 'replace', 'change'].includes(call.args[1] ?? '')),
    );
  }
}

/** A fresh WireGuard key pair. */
export function keyPair(): {privateKey: string; publicKey: string} {
  const identity = generateIdentity();
  return {privateKey: identity.wgPrivateKey, publicKey: identity.wgPublicKey};
}

/** Poll `probe` until it holds, at most `timeoutMs`; fails the test with `what` otherwise. */
export async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await delay(25);
  }
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The plugin's `wgmesh:backends` oclif hook (declared in package.json). It
 * returns factories only; nothing heavy is imported until `create` runs.
 */
import type {BackendFactory} from '@wgmesh/core/backends';
import {wgKernelBackend} from '../factory.js';

/** Return this plugin's backend factories. */
export default async function backends(): Promise<BackendFactory[]> {
  return [wgKernelBackend];
}

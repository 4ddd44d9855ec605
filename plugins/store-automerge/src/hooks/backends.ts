/** The oclif `wgmesh:backends` hook: announces this plugin's backends to the registry at run time. */
import type {BackendFactory} from '@wgmesh/core/backends';
import {automergeStoreFactory} from '../factory.js';

/** Return the backend factories this plugin provides. */
export default async function backendsHook(): Promise<BackendFactory[]> {
  return [automergeStoreFactory];
}

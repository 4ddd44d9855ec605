/** What every part of one mesh's control plane is given by its MeshControl. */
import type {Clock, RandomSource} from '../contracts/clock.js';
import type {Logger} from '../contracts/logger.js';
import type {MembershipView} from './membership-view.js';
import type {ControlRpc} from './rpc.js';
import type {Scheduler} from './scheduler.js';
import type {ControlSettings, ControlTimings} from './settings.js';
import type {ControlStats} from './stats.js';

/** The node, its view of the mesh, its requests out, its timers and its settings: shared by push, anti-entropy and failure detection. */
export interface ControlContext {
  /** This node's id. */
  selfId: string;
  view: MembershipView;
  rpc: ControlRpc;
  scheduler: Scheduler;
  clock: Clock;
  random: RandomSource;
  logger: Logger;
  /** Counters, written in place. */
  stats: ControlStats;
  settings: ControlSettings;
  timings: ControlTimings;
}

/** The control plane: gossip, anti-entropy and failure detection of one mesh on one node. */
export {MeshControl, type MeshControlDeps} from './mesh-control.js';
export {deriveTimings, MONITORS, INDIRECT_PROBES, SUSPECT_ROUNDS, DEAD_PROBE_EVERY_ROUNDS, type ControlSettings, type ControlTimings} from './settings.js';
export {emptyControlStats, type ControlStats} from './stats.js';
export type {LiveViewChange} from './membership-view.js';
export {Ring, ringPosition, type RingMember} from './ring.js';
export {
  controlRequestSchema,
  controlReplySchema,
  encodeControlRequest,
  decodeControlRequest,
  encodeControlReply,
  decodeControlReply,
  MAX_CONTROL_MESSAGE_BYTES,
  MAX_PUSH_ENTRIES,
  MAX_STATEMENTS,
  MAX_SUMMARIES,
  type ControlRequest,
  type ControlReply,
} from './messages.js';
export {signStatement, verifyStatement, toWire as statementToWire, type StatementBody, type VerifiedStatement, type WireStatement} from './statements.js';

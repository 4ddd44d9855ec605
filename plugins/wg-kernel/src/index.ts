/** @wgmesh/wg-kernel: real WireGuard through ip and wg, with wireguard-go where the kernel has no module. */
export {wgKernelBackend, kernelConfigSchema, type KernelConfig} from './factory.js';
export {
  KernelWgDriver,
  DEFAULT_ROUTE_METRIC,
  DEFAULT_ROUTE_PROTOCOL,
  DEFAULT_EXIT_ROUTE_METRIC,
  RESTART_WINDOW_MS,
  hasNetAdmin,
  chooseUserspace,
  type KernelWgDriverOptions,
  type WgImplementationMode,
} from './driver.js';
export {
  ExecRunner,
  CommandError,
  missingToolMessage,
  permissionMessage,
  type CommandRunner,
  type CommandOutput,
  type CommandFailureKind,
  type ExecRunnerOptions,
  type RunOptions,
  type SpawnChildOptions,
} from './runner.js';
export {UAPI_DIR, uapiSocketPath, uapiIsLive, type UserspaceImplementation} from './userspace.js';
export {planPeers, peerChangeArgs, planAddresses, planRoutes, type PeerChange, type RoutePlacement, type InstalledRoute} from './diff.js';
export {DEFAULT_FWMARK, DEFAULT_EXIT_TABLE, DEFAULT_EXIT_RULE_PRIORITY, MIN_EXIT_RULE_PRIORITY} from './exit-defaults.js';
export {ensureIpv6Forwarding, parseAcceptRa, FORWARDING_HINT, FORWARDING_SYSCTL, IPV6_CONF_DIR, type ForwardingOutcome} from './forwarding.js';
export {parseWgDump, type WgDump, type DumpPeer, type DumpInterface} from './parse.js';

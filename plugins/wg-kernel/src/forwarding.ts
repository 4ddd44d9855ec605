/**
 * IPv6 forwarding for the kernel driver. A node that relays for others (a
 * bridge, an exit, a peer with clients) needs `net.ipv6.conf.all.forwarding=1`
 * in its network namespace. The sysctls are read and written under /proc/sys
 * through the command runner (`cat`, `grep`, `tee`: no shell, no procps), so a
 * driver given a namespace acts inside it.
 *
 * Turning forwarding on makes Linux ignore router advertisements on every
 * interface whose `accept_ra` is 1, so an uplink configured by RAs would lose
 * its default route when the router lifetime runs out. Before turning it on,
 * every interface (and the `default` template for later ones) with
 * `accept_ra=1` is set to 2, which means exactly "accept RAs, even when
 * forwarding": the uplink keeps behaving as before. Nothing else is changed,
 * and forwarding is never turned off again.
 */
import {WgDriverError} from '@wgmesh/core';
import {CommandError, firstLine, type CommandRunner} from './runner.js';

/** Where the per-interface IPv6 sysctls live. */
export const IPV6_CONF_DIR = '/proc/sys/net/ipv6/conf';

/** The switch that turns IPv6 forwarding on for the namespace. */
export const FORWARDING_SYSCTL = `${IPV6_CONF_DIR}/all/forwarding`;

/** Interface directory names under IPV6_CONF_DIR that are safe to put in a path. */
const CONF_NAME = /^[A-Za-z0-9_=+][A-Za-z0-9_.=+-]{0,14}$/;

/** What {@link ensureIpv6Forwarding} did. */
export interface ForwardingOutcome {
  /** True when forwarding was off and is now on. */
  changed: boolean;
  /** Interfaces (and `default`) whose `accept_ra` was raised from 1 to 2 so RAs keep configuring them. */
  acceptRaRaised: string[];
}

/** How to enable forwarding by hand, for error messages. */
export const FORWARDING_HINT =
  "enable it with 'sysctl -w net.ipv6.conf.all.forwarding=1' (in a container: --sysctl net.ipv6.conf.all.forwarding=1), and set accept_ra=2 on an uplink configured by router advertisements";

/** Parse `grep -r -H '' .../accept_ra` output into interface -> value. */
export function parseAcceptRa(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\/proc\/sys\/net\/ipv6\/conf\/([^/]+)\/accept_ra:(\d+)$/.exec(line.trim());
    if (match && CONF_NAME.test(match[1]!)) values.set(match[1]!, match[2]!);
  }
  return values;
}

function detail(error: unknown): string {
  if (error instanceof CommandError) return firstLine(error.stderr) || error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Make sure IPv6 forwarding is on; with `manage` false only check it.
 * @throws WgDriverError saying that forwarding must be enabled and how, when it is off and cannot (or may not) be turned on.
 */
export async function ensureIpv6Forwarding(runner: CommandRunner, options: {manage: boolean; signal?: AbortSignal | undefined}): Promise<ForwardingOutcome> {
  const {signal} = options;
  let current: string;
  try {
    current = (await runner.run('cat', [FORWARDING_SYSCTL], {signal})).stdout.trim();
  } catch (error) {
    throw new WgDriverError(`cannot read ${FORWARDING_SYSCTL} (${detail(error)}): IPv6 forwarding is needed because this node relays for other nodes; ${FORWARDING_HINT}`);
  }
  if (current === '1') return {changed: false, acceptRaRaised: []};
  if (!options.manage) {
    throw new WgDriverError(`IPv6 forwarding is off and kernel.manageForwarding is false, but this node relays for other nodes: ${FORWARDING_HINT}`);
  }
  const acceptRaRaised: string[] = [];
  try {
    const listing = await runner.run('grep', ['-r', '-H', '-s', '--include=accept_ra', '', IPV6_CONF_DIR], {signal});
    for (const [name, value] of parseAcceptRa(listing.stdout)) {
      // `all` has no effect for accept_ra; loopback never receives RAs.
      if (value !== '1' || name === 'all' || name === 'lo') continue;
      await runner.run('tee', [`${IPV6_CONF_DIR}/${name}/accept_ra`], {input: '2\n', signal});
      acceptRaRaised.push(name);
    }
    await runner.run('tee', [FORWARDING_SYSCTL], {input: '1\n', signal});
  } catch (error) {
    const raised = acceptRaRaised.length > 0 ? ` (accept_ra was already raised to 2 on ${acceptRaRaised.join(', ')})` : '';
    throw new WgDriverError(`IPv6 forwarding is off and could not be turned on: ${detail(error)}${raised}; this node relays for other nodes: ${FORWARDING_HINT}`);
  }
  return {changed: true, acceptRaRaised};
}

/**
 * Where default routes through an exit live, and the policy rule that keeps
 * WireGuard's own packets off them.
 *
 * Every wgmesh interface marks its own UDP packets with a firewall mark
 * (`wg set NAME fwmark M`). A default route (`/0`, either family) goes into
 * a routing table of its own (T), not into `main`, and one policy rule per
 * family sends unmarked traffic there after `main` and `default` were tried:
 * `not fwmark M lookup T`, with a priority above theirs (32766, 32767). So
 * a host's own default route in `main` always wins; traffic with no way out
 * of its own uses the exit; and WireGuard's marked packets never do: when the
 * underlay route to a peer's endpoint is gone, sending fails (ENETUNREACH)
 * instead of looping back into the tunnel. The rule exists while a wgmesh
 * default route of its family is in T.
 */
import {WgDriverError} from '@wgmesh/core';
import {z} from 'zod';
import {MIN_EXIT_RULE_PRIORITY} from './exit-defaults.js';
import {parseIpJson} from './parse.js';

/** Tables the kernel reserves: unspec, default, main, local. */
const RESERVED_TABLES = new Set([0, 253, 254, 255]);

/** Mark, table and rule priority of the exit-route protection. */
export interface ExitRouting {
  fwmark: number;
  table: number;
  priority: number;
}

/**
 * @throws WgDriverError when a value is out of range: a mark of 1 to
 * 4294967295, a table that is not one of the kernel's own (0, 253-255), and
 * a priority after `main` and `default`.
 */
export function checkExitRouting(settings: ExitRouting): void {
  const {fwmark, table, priority} = settings;
  if (!Number.isInteger(fwmark) || fwmark < 1 || fwmark > 0xffffffff) throw new WgDriverError(`fwmark ${fwmark} is not from 1 to 4294967295`);
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff || RESERVED_TABLES.has(table)) {
    throw new WgDriverError(`default route table ${table} is not from 1 to 4294967295, or is one of the kernel's own (253 default, 254 main, 255 local)`);
  }
  if (!Number.isInteger(priority) || priority < MIN_EXIT_RULE_PRIORITY || priority > 0xffffffff) {
    throw new WgDriverError(`default route rule priority ${priority} is not from ${MIN_EXIT_RULE_PRIORITY} to 4294967295 (it must come after the main and default tables, 32766 and 32767, so a host's own default route keeps winning)`);
  }
}

/** True for a default route (`::/0`, `0.0.0.0/0`). */
export function isDefaultRoute(destination: string): boolean {
  return destination.endsWith('/0');
}

/** The address family of a canonical prefix. */
export function familyOf(destination: string): 4 | 6 {
  return destination.includes(':') ? 6 : 4;
}

/** The selector of the rule, as `ip rule add|del` takes it. */
export function exitRuleArgs(settings: ExitRouting): string[] {
  return ['not', 'fwmark', String(settings.fwmark), 'lookup', String(settings.table), 'priority', String(settings.priority)];
}

const ruleSchema = z.array(
  z.object({
    priority: z.number().int().optional(),
    not: z.null().optional(),
    fwmark: z.string().optional(),
    fwmask: z.string().optional(),
    table: z.string().optional(),
  }),
);

/** A number as `ip -j rule` prints marks (`0xca6d`), or NaN. */
function ruleNumber(text: string | undefined): number {
  return text !== undefined && /^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(text) ? Number(text) : Number.NaN;
}

/** Whether `ip -N -j rule show priority P` lists exactly wgmesh's rule (full mask, numeric table). */
export function hasExitRule(text: string, settings: ExitRouting): boolean {
  return parseIpJson('policy rules', text, ruleSchema).some(
    (rule) =>
      rule.priority === settings.priority &&
      rule.not === null &&
      ruleNumber(rule.fwmark) === settings.fwmark &&
      (rule.fwmask === undefined || ruleNumber(rule.fwmask) === 0xffffffff) &&
      rule.table === String(settings.table),
  );
}

/** What `ip route show table T` says of a table nobody has put a route in yet: as good as empty. */
export const NO_SUCH_TABLE = /FIB table does not exist/i;

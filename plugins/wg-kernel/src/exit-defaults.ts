/**
 * Defaults of the exit-route protection (see exit-table.ts), apart so the
 * backend factory can declare its config without loading the driver.
 */

/** Firewall mark of WireGuard's own packets (`wg set NAME fwmark`); wg-quick uses 51820, wgmesh the next number so the two never mix. */
export const DEFAULT_FWMARK = 51821;

/** Routing table of default routes through an exit. */
export const DEFAULT_EXIT_TABLE = 51821;

/** Priority of the rule `not fwmark M lookup T`: after `main` (32766) and `default` (32767). */
export const DEFAULT_EXIT_RULE_PRIORITY = 32800;

/** The lowest priority that still comes after the `main` and `default` rules. */
export const MIN_EXIT_RULE_PRIORITY = 32768;

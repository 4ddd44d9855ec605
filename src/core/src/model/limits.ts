/**
 * Size caps of the data model, without the schemas that enforce them: the
 * CLI's client entry needs the numbers (e.g. `node describe`'s limit in its
 * help) and must not load zod for them. `model/record.ts` re-exports them.
 */

/** Caps on untrusted sizes. A record above these is rejected, not truncated. */
export const RECORD_LIMITS = {
  alias: 63,
  description: 256,
  services: 64,
  serviceKey: 63,
  serviceValue: 512,
  routes: 256,
  routePath: 32,
  endpoint: 300,
} as const;

/** The HTTP API's settings, from the config (kept apart from the server so reading them loads no HTTP code). */
import type {DaemonConfig} from '../config/schema.js';

/** The API's base path. */
export const API_BASE = '/api/v1';

/** The API settings from the config. */
export interface ApiSettings {
  enabled: boolean;
  /** `IPv4:PORT` or `[IPv6]:PORT`. */
  listen: string;
  /** Allow a non-loopback `listen`. */
  allowRemote: boolean;
  /** Origins allowed cross-origin requests (none: no CORS headers). */
  corsOrigins: string[];
  /** Largest request body (bytes). */
  maxBodyBytes: number;
  /** Sustained requests per second per client IP. */
  rateLimit: number;
  /** Requests a client IP may make at once. */
  rateBurst: number;
  /** Most event streams open at once. */
  maxStreams: number;
}

/** The `api*` keys of `config` as {@link ApiSettings}. */
export function apiSettingsOf(config: DaemonConfig): ApiSettings {
  return {
    enabled: config.apiEnabled,
    listen: config.apiListen,
    allowRemote: config.apiAllowRemote,
    corsOrigins: [...config.apiCorsOrigins],
    maxBodyBytes: config.apiMaxBodyBytes,
    rateLimit: config.apiRateLimit,
    rateBurst: config.apiRateBurst,
    maxStreams: config.apiMaxStreams,
  };
}

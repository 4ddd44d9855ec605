/**
 * The daemon's HTTP API as the page uses it: every request carries the bearer
 * token, and every failure becomes an {@link ApiError} with the code and
 * message of the API's `{error: {code, message}}` body.
 */
import type {MeshShowView, MeshSummary, NodeSetResult, StatusView} from '@wgmesh/core/client';

/** A request the API refused or could not answer. */
export class ApiError extends Error {
  /** HTTP status (0 when the server was not reached). */
  readonly status: number;
  /** The API's error code (`UNAUTHORIZED`, `INVALID_INPUT`...), or `NETWORK`/`BAD_RESPONSE` made here. */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Longest error message shown from a response (the rest is cut). */
const MAX_MESSAGE = 500;

/** The `{error: {code, message}}` of a failed response, or a description of what came instead. */
async function errorOf(response: Response): Promise<ApiError> {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as unknown;
    const error = typeof body === 'object' && body !== null ? (body as {error?: unknown}).error : undefined;
    if (typeof error === 'object' && error !== null) {
      const fields = error as {code?: unknown; message?: unknown};
      if (typeof fields.code === 'string') code = fields.code.slice(0, 64);
      if (typeof fields.message === 'string') message = fields.message.slice(0, MAX_MESSAGE);
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

/** The path of one resource under `/api/v1`, each segment escaped. */
export function apiPath(...segments: string[]): string {
  return `api/v1/${segments.map(encodeURIComponent).join('/')}`;
}

/** A client of `/api/v1` with one token. */
export class ApiClient {
  constructor(private readonly token: string) {}

  /** The `Authorization` header of this client. */
  headers(): Record<string, string> {
    return {Authorization: `Bearer ${this.token}`};
  }

  /** A JSON request; resolves to the parsed body (undefined for 204). @throws ApiError */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {...this.headers(), Accept: 'application/json'};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(new URL(path, document.baseURI), {method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store'});
    } catch (error) {
      throw new ApiError(0, 'NETWORK', `the daemon did not answer (${error instanceof Error ? error.message : String(error)}); is it running with apiEnabled?`);
    }
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', `the answer to ${method} ${path} was not JSON`);
    }
  }

  status(): Promise<StatusView> {
    return this.request('GET', apiPath('status'));
  }

  meshes(): Promise<MeshSummary[]> {
    return this.request('GET', apiPath('meshes'));
  }

  mesh(meshId: string): Promise<MeshShowView> {
    return this.request('GET', apiPath('meshes', meshId));
  }

  /** Set this node's alias and/or description (null removes; `meshId` absent: every mesh). */
  setNode(fields: {meshId?: string; alias?: string | null; description?: string | null}): Promise<NodeSetResult> {
    return this.request('PATCH', apiPath('node'), fields);
  }

  setService(key: string, value: string, meshId?: string): Promise<unknown> {
    return this.request('PUT', apiPath('node', 'services', key), meshId === undefined ? {value} : {value, meshId});
  }

  deleteService(key: string, meshId?: string): Promise<unknown> {
    const query = meshId === undefined ? '' : `?meshId=${encodeURIComponent(meshId)}`;
    return this.request('DELETE', `${apiPath('node', 'services', key)}${query}`);
  }
}

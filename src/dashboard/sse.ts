/**
 * Server-Sent Events read with `fetch()` (an `EventSource` cannot send the
 * `Authorization` header): an incremental parser of the `text/event-stream`
 * format and a reader that keeps one stream open, reconnecting with backoff.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The last `id:` seen on the stream ('' before any). */
  id: string;
  /** The `event:` field, 'message' when absent. */
  type: string;
  /** The `data:` lines joined with '\n'. */
  data: string;
}

/** The stream sent a line or an event longer than the parser accepts. */
export class SseTooLargeError extends Error {
  constructor(limit: number) {
    super(`the event stream sent more than ${limit} characters in one event; the stream was closed`);
    this.name = 'SseTooLargeError';
  }
}

/** Most characters of one event (all its lines) the parser holds; a larger one ends the stream. */
export const MAX_EVENT_CHARS = 1 << 20;

/**
 * Incremental parser of the event-stream format (WHATWG HTML, "Server-sent
 * events"): feed it decoded text in any chunking; it calls `onEvent` for each
 * complete event. Comments (`: keepalive`) and unknown fields are ignored.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private dataChars = 0;
  private type = '';
  private lastId = '';
  /** A '\r' ended the previous chunk: a '\n' starting the next one belongs to it. */
  private pendingCr = false;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly maxChars = MAX_EVENT_CHARS,
  ) {}

  /** Parse `chunk`. @throws SseTooLargeError when one event grows past the limit. */
  push(chunk: string): void {
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(this.buffer);
      if (found === null) break;
      // A lone '\r' at the very end may be the first half of '\r\n'.
      if (found[0] === '\r' && found.index === this.buffer.length - 1) this.pendingCr = true;
      this.line(this.buffer.slice(start, found.index));
      start = found.index + found[0].length;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length + this.dataChars > this.maxChars) throw new SseTooLargeError(this.maxChars);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length + 1;
      if (this.dataChars > this.maxChars) throw new SseTooLargeError(this.maxChars);
      this.data.push(value);
    } else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }

  private dispatch(): void {
    const data = this.data;
    const type = this.type;
    this.data = [];
    this.dataChars = 0;
    this.type = '';
    if (data.length === 0) return;
    this.onEvent({id: this.lastId, type: type === '' ? 'message' : type, data: data.join('\n')});
  }
}

/** What {@link openEventStream} reports about its connection. */
export type StreamState = 'connecting' | 'open' | 'retrying' | 'closed';

/** Options of {@link openEventStream}. */
export interface EventStreamOptions {
  /** The stream's URL. */
  url: string;
  /** Headers of every (re)connection, e.g. `Authorization`. */
  headers: () => Record<string, string>;
  onEvent: (event: SseEvent) => void;
  onState: (state: StreamState, detail?: string) => void;
  /**
   * A response that is not a stream: return true to stop for good (e.g. 401,
   * the token was refused), false to retry with backoff.
   */
  onRefused: (response: Response) => boolean;
  /** First retry delay (ms), doubled up to {@link maxDelayMs}. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** A stream that can be stopped. */
export interface EventStreamHandle {
  close(): void;
}

/**
 * Keep one event stream open: read it with `fetch()` and a {@link SseParser},
 * and reconnect after an error or the end of the stream, waiting 1 s, 2 s, 4 s
 * ... up to 30 s (back to 1 s after a connection that delivered data). Sends
 * `Last-Event-ID` after the first event, as an `EventSource` would.
 */
export function openEventStream(options: EventStreamOptions): EventStreamHandle {
  const minDelay = options.minDelayMs ?? 1_000;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const abort = new AbortController();
  let delay = minDelay;
  let lastId = '';
  let timer: ReturnType<typeof setTimeout> | undefined;

  const retry = (detail: string): void => {
    if (abort.signal.aborted) return;
    options.onState('retrying', `${detail}; retrying in ${Math.round(delay / 1000)} s`);
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, maxDelay);
  };

  const connect = async (): Promise<void> => {
    options.onState('connecting');
    try {
      const headers: Record<string, string> = {Accept: 'text/event-stream', ...options.headers()};
      if (lastId !== '') headers['Last-Event-ID'] = lastId;
      const response = await fetch(options.url, {headers, signal: abort.signal, cache: 'no-store'});
      if (!response.ok || response.body === null || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        if (options.onRefused(response)) {
          abort.abort();
          options.onState('closed');
          return;
        }
        retry(`the server answered ${response.status}`);
        return;
      }
      options.onState('open');
      const parser = new SseParser((event) => {
        lastId = event.id;
        delay = minDelay;
        options.onEvent(event);
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        parser.push(value);
      }
      retry('the stream ended');
    } catch (error) {
      if (abort.signal.aborted) return;
      retry(error instanceof Error ? error.message : String(error));
    }
  };

  void connect();
  return {
    close() {
      abort.abort();
      clearTimeout(timer);
      options.onState('closed');
    },
  };
}

/**
 * A minimal client of serf's agent RPC protocol (TCP, msgpack; see serf's
 * docs, "RPC Protocol"), for benchmarks: one long-lived connection per agent
 * so that the bench observes without starting a `serf` process per sample.
 * Every message is a msgpack header `{Seq, Error}` (from the agent) or
 * `{Command, Seq}` (to it), followed by a body when the command has one.
 * Supported: handshake, join, tags, members and stream (member events).
 */
import {connect} from 'node:net';
import {Packr, UnpackrStream} from 'msgpackr';

/** Plain msgpack maps, as serf's Go codec reads them (no msgpackr records). */
const packr = new Packr({useRecords: false});

/**
 * One member as serf reports it.
 * @typedef {{Name: string, Addr: Buffer, Port: number, Tags: Record<string, string>, Status: string}} SerfMember
 */

/** A connection to one agent's RPC address. */
export class SerfRpc {
  #socket;
  #seq = 0;
  /** Replies awaited, by seq: whether a body follows the header, and what to do with it. */
  #pending = new Map();
  /** Event streams, by seq. */
  #streams = new Map();
  /** The header just read, when its body is the next value. */
  #awaitingBody;
  #closed = false;

  /**
   * Connect and shake hands.
   * @param {string | {host: string, port: number}} address a Unix socket path (a relay to the agent), or the agent's RPC address
   * @returns {Promise<SerfRpc>}
   */
  static async connect(address) {
    const socket = typeof address === 'string' ? connect(address) : connect(address.port, address.host);
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new SerfRpc(socket);
    await client.#call('handshake', {Version: 1}, false);
    return client;
  }

  constructor(socket) {
    this.#socket = socket;
    const values = new UnpackrStream({useRecords: false});
    socket.pipe(values);
    values.on('data', (value) => this.#receive(value));
    const fail = (error) => {
      this.#closed = true;
      for (const {reject} of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the serf agent closed the RPC connection')));
  }

  /**
   * Join the agent to the cluster through `addresses` (`host:port`).
   * @param {string[]} addresses
   * @returns {Promise<number>} how many it contacted
   */
  async join(addresses) {
    return (await this.#call('join', {Existing: addresses, Replay: false}, true)).Num;
  }

  /**
   * Set tags on the agent's own member.
   * @param {Record<string, string>} tags
   */
  async setTags(tags) {
    await this.#call('tags', {Tags: tags, DeleteTags: []}, false);
  }

  /** @returns {Promise<SerfMember[]>} every member the agent knows, with its status */
  async members() {
    return (await this.#call('members', undefined, true)).Members;
  }

  /**
   * Receive member events (`member-join`, `member-update`, `member-failed`, ...).
   * @param {string} types comma-separated event types, e.g. `member-update,member-failed`
   * @param {(event: {Event: string, Members: SerfMember[]}) => void} onEvent
   */
  async stream(types, onEvent) {
    const seq = this.#seq++;
    const acknowledged = this.#send('stream', seq, {Type: types}, false);
    this.#streams.set(seq, onEvent);
    await acknowledged;
  }

  close() {
    this.#closed = true;
    this.#socket.destroy();
  }

  #call(command, body, hasBody) {
    return this.#send(command, this.#seq++, body, hasBody);
  }

  #send(command, seq, body, hasBody) {
    if (this.#closed) return Promise.reject(new Error('the serf RPC connection is closed'));
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, {resolve, reject, hasBody});
      const header = packr.pack({Command: command, Seq: seq});
      this.#socket.write(body === undefined ? header : Buffer.concat([header, packr.pack(body)]));
    });
  }

  #receive(value) {
    if (this.#awaitingBody !== undefined) {
      const header = this.#awaitingBody;
      this.#awaitingBody = undefined;
      const stream = this.#streams.get(header.Seq);
      if (stream !== undefined && !this.#pending.has(header.Seq)) return stream(value);
      this.#settle(header, value);
      return;
    }
    const header = value;
    const pending = this.#pending.get(header.Seq);
    if (pending?.hasBody || (pending === undefined && this.#streams.has(header.Seq))) {
      this.#awaitingBody = header;
      return;
    }
    this.#settle(header, undefined);
  }

  #settle(header, body) {
    const pending = this.#pending.get(header.Seq);
    if (pending === undefined) return;
    this.#pending.delete(header.Seq);
    if (header.Error) pending.reject(new Error(`serf RPC: ${header.Error}`));
    else pending.resolve(body);
  }
}

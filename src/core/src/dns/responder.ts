/**
 * One DNS query in, one reply out (or nothing): the whole protocol logic of the
 * daemon's DNS server, on bytes, with no socket, so it can be fuzzed.
 *
 * Every byte is hostile: a packet that does not decode, or that is itself a
 * reply, gets no answer (answering replies could loop two servers). Decoding
 * and encoding go through dns-packet.
 */
import dnsPacket, {type Answer, type DecodedPacket, type OptAnswer, type Packet, type Question} from 'dns-packet';
import {lookupName, type AliasSource} from './lookup.js';
import {DNS_ZONE, parseZoneName} from './names.js';

/** TTL of every answer, and of negative answers (the SOA minimum): small, so a change of alias or a dead member is seen within seconds. */
export const DNS_TTL_SECONDS = 5;

/** Largest UDP reply without EDNS (RFC 1035). */
const CLASSIC_UDP_LIMIT = 512;
/** Largest UDP reply we send even when EDNS allows more (the DNS flag day 2020 value: no IP fragmentation). */
const EDNS_UDP_LIMIT = 1232;

/** DNS response codes the server uses. */
export const DNS_RCODE = {NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5} as const;
/** A response code name. */
export type RcodeName = keyof typeof DNS_RCODE;

/** What {@link respondToDnsQuery} did with one packet. */
export type DnsOutcome =
  /** A reply to send, and its response code. */
  | {reply: Buffer; rcode: RcodeName; truncated: boolean}
  /** No reply: the packet was not a query we can read (`malformed`) or was itself a reply (`response`). */
  | {reply: null; dropped: 'malformed' | 'response'};

/** The zone's SOA record: what resolvers cache negative answers by (RFC 2308). */
function soa(): Answer {
  return {
    type: 'SOA',
    name: DNS_ZONE,
    ttl: DNS_TTL_SECONDS,
    class: 'IN',
    data: {mname: DNS_ZONE, rname: `hostmaster.${DNS_ZONE}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: DNS_TTL_SECONDS},
  };
}

/** The EDNS record of a query, if it has one; undefined for none, null for a malformed query with several. */
function ednsOf(query: DecodedPacket): OptAnswer | undefined | null {
  const opts = (query.additionals ?? []).filter((record): record is OptAnswer => record.type === 'OPT');
  if (opts.length > 1) return null;
  return opts[0];
}

/** The answer records and response code for one question. */
function answerQuestion(question: Question, source: AliasSource): {rcode: RcodeName; answers: Answer[]; authorities: Answer[]} {
  const refused = {rcode: 'REFUSED' as const, answers: [], authorities: []};
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return refused;
  const zoneName = parseZoneName(question.name);
  // Not ours: an authoritative-only server refuses rather than claims a name does not exist.
  if (!zoneName) return refused;
  const found = lookupName(zoneName, source);
  if (!found.exists) return {rcode: 'NXDOMAIN', answers: [], authorities: [soa()]};
  const answers: Answer[] = [];
  if (question.type === 'AAAA' || (question.type as string) === 'ANY') {
    // The owner name echoes the question's own spelling (resolvers may randomise case, RFC 4343).
    for (const address of found.addresses) answers.push({type: 'AAAA', name: question.name, ttl: DNS_TTL_SECONDS, class: 'IN', data: address});
  }
  if (zoneName.kind === 'apex' && (question.type === 'SOA' || (question.type as string) === 'ANY')) answers.push({...soa(), name: question.name});
  // A name that exists with no record of the asked type: NOERROR, no answer, the SOA for negative caching.
  return {rcode: 'NOERROR', answers, authorities: answers.length === 0 ? [soa()] : []};
}

/** Header bits of a raw packet that dns-packet's types do not expose. */
function headerOf(bytes: Buffer): {isResponse: boolean; opcode: number; recursionDesired: boolean} {
  return {isResponse: (bytes[2]! & 0x80) !== 0, opcode: (bytes[2]! >> 3) & 0x0f, recursionDesired: (bytes[2]! & 0x01) !== 0};
}

/**
 * Answer one DNS packet from the live view in `source`: AAAA records for the
 * names of the `wgmesh.` zone, NXDOMAIN for names in it that do not exist,
 * NOERROR with no answer for other types of existing names, REFUSED for names
 * outside it, FORMERR/NOTIMP for queries it cannot serve. Never throws.
 */
export function respondToDnsQuery(bytes: Uint8Array, source: AliasSource): DnsOutcome {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 12) return {reply: null, dropped: 'malformed'};
  const header = headerOf(buffer);
  if (header.isResponse) return {reply: null, dropped: 'response'};
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(buffer);
  } catch {
    return {reply: null, dropped: 'malformed'};
  }
  const questions = query.questions ?? [];
  const edns = ednsOf(query);
  const base: Packet = {
    type: 'response',
    id: query.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (header.recursionDesired ? dnsPacket.RECURSION_DESIRED : 0),
  };
  let rcode: RcodeName;
  let answers: Answer[] = [];
  let authorities: Answer[] = [];
  let echoed: Question[] = questions;
  if (header.opcode !== 0) {
    rcode = 'NOTIMP';
  } else if (questions.length !== 1 || edns === null) {
    rcode = 'FORMERR';
    echoed = [];
  } else {
    ({rcode, answers, authorities} = answerQuestion(questions[0]!, source));
  }
  const limit = edns ? Math.min(Math.max(edns.udpPayloadSize, CLASSIC_UDP_LIMIT), EDNS_UDP_LIMIT) : CLASSIC_UDP_LIMIT;
  // Our EDNS record: tells the client how much we can take; no options echoed.
  const additionals: Answer[] = edns ? [{type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: []}] : [];
  try {
    const packet: Packet = {...base, flags: (base.flags ?? 0) | DNS_RCODE[rcode], questions: echoed, answers, authorities, additionals};
    let reply = dnsPacket.encode(packet);
    let truncated = false;
    if (reply.length > limit) {
      // Too big for UDP: the header and question only, with TC set (RFC 2181 section 9).
      truncated = true;
      reply = dnsPacket.encode({...packet, flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [], authorities: []});
    }
    return {reply, rcode, truncated};
  } catch {
    // A question name dns-packet decoded but cannot encode back (odd bytes in a label).
    return {reply: null, dropped: 'malformed'};
  }
}

/**
 * What membership credentials cost (issue 15): bytes per signed record with
 * each kind of credential against the same record without one, the size of a
 * revocation, and verification time per entry, cold (the node's credential is
 * checked for the first time: its chain's signatures are verified) and with
 * the credential memoised (a newer version of a record whose credential was
 * checked before, the common case), next to Ed25519 verification alone.
 *
 * Run after a build:  node bench/trust-cost.js [--nodes N] [--json]
 */
import {availableParallelism, loadavg} from 'node:os';
import {parseArgs} from 'node:util';
import {
  ed25519Signer,
  encode,
  generateIdentity,
  issueGrant,
  issueInvite,
  issueMembership,
  issueRevocation,
  redeemInvite,
  verifyEntry,
  verifySignature,
} from '@wgmesh/core';
import {FIXTURE_NOW, makeTestNode, testMeshAdmin, testMeshAuthority, testMeshId, wireEntry} from '@wgmesh/testkit';
import {time, typicalRecord} from './lib/store-fixtures.js';

const {values: args} = parseArgs({options: {nodes: {type: 'string', default: '2000'}, json: {type: 'boolean', default: false}}});
const nodes = Number(args.nodes);
if (!Number.isInteger(nodes) || nodes < 10 || nodes > 100_000) {
  process.stderr.write(`--nodes must be an integer from 10 to 100000 (got "${args.nodes}")\n`);
  process.exit(2);
}
const log = (text) => {
  if (!args.json) process.stderr.write(`${text}\n`);
};
const load = loadavg();

const meshId = testMeshId();
const authorityAdmin = testMeshAdmin(meshId);
const adminKey = ed25519Signer();
const grantedAdmin = {
  meshId,
  signer: adminKey,
  chain: {authorityKey: testMeshAuthority(meshId).publicKey, grant: issueGrant(testMeshAuthority(meshId), adminKey.publicKey, FIXTURE_NOW)},
};
const invites = {
  authority: issueInvite(authorityAdmin, {role: 'peer', uses: 10_000, now: FIXTURE_NOW, expiresAt: FIXTURE_NOW + 86_400_000}),
  granted: issueInvite(grantedAdmin, {role: 'peer', uses: 10_000, now: FIXTURE_NOW, expiresAt: FIXTURE_NOW + 86_400_000}),
};

/** How each kind of node got its credential. */
const KINDS = {
  'direct membership (authority)': (key) => issueMembership(authorityAdmin, key, 'peer', FIXTURE_NOW),
  'invite redemption (authority)': (key) => redeemInvite(authorityAdmin.chain, invites.authority, key, FIXTURE_NOW + 1),
  'membership by a granted admin': (key) => issueMembership(grantedAdmin, key, 'peer', FIXTURE_NOW),
  'invite redemption (granted admin)': (key) => redeemInvite(grantedAdmin.chain, invites.granted, key, FIXTURE_NOW + 1),
};

/** Bytes of an entry as it travels and is stored: the MessagePack of {body, signature}. */
const wireBytes = (entry) => encode(wireEntry(entry)).byteLength;

// Bytes per record.
const sizes = [];
const probe = generateIdentity();
for (const [kind, issue] of Object.entries(KINDS)) {
  const credential = issue(probe.signingKey);
  const node = makeTestNode(meshId, {identity: probe, credential});
  const entry = typicalRecord(node, 1);
  const {credential: _dropped, ...bare} = entry.value;
  const bareBody = encode(bare).byteLength;
  sizes.push({
    kind,
    credentialBytes: credential.byteLength,
    bodyWithout: bareBody,
    bodyWith: entry.body.byteLength,
    signedWithout: encode({body: encode(bare), signature: entry.signature}).byteLength,
    signedWith: wireBytes(entry),
  });
}
const revocation = issueRevocation(authorityAdmin, probe.nodeId, 'node', FIXTURE_NOW, 'lost laptop');
const revocationByGrant = issueRevocation(grantedAdmin, probe.nodeId, 'node', FIXTURE_NOW, 'lost laptop');
const revocationSizes = {authority: wireBytes(revocation), grantedAdmin: wireBytes(revocationByGrant)};

// Verification time per entry.
const options = {meshId, now: FIXTURE_NOW + 60_000, maxClockSkewMs: 60_000};

/** Two versions of a typical record for each of `count` new nodes whose credentials `issue` makes. */
function recordPairs(issue, count) {
  const first = [];
  const second = [];
  for (let i = 0; i < count; i++) {
    const identity = generateIdentity();
    const node = makeTestNode(meshId, {identity, credential: issue(identity.signingKey)});
    first.push(wireEntry(typicalRecord(node, i)));
    second.push(wireEntry(typicalRecord(node, i, {version: FIXTURE_NOW + 1, updatedAt: FIXTURE_NOW + 1})));
  }
  return {first, second};
}

// Warm-up (JIT), not measured: every kind once.
for (const issue of Object.values(KINDS)) for (const entry of recordPairs(issue, 50).first) verifyEntry(entry, options);

const verification = [];
for (const [kind, issue] of Object.entries(KINDS)) {
  log(`signing ${nodes} records x 2 versions (${kind}) ...`);
  const {first, second} = recordPairs(issue, nodes);
  const cold = time(() => {
    for (const entry of first) verifyEntry(entry, options);
  });
  const memoised = time(() => {
    for (const entry of second) verifyEntry(entry, options);
  });
  verification.push({kind, coldUs: (cold.cpuMs * 1000) / nodes, memoisedUs: (memoised.cpuMs * 1000) / nodes, coldWallUs: (cold.ms * 1000) / nodes, memoisedWallUs: (memoised.ms * 1000) / nodes});
}
// Ed25519 alone, on the same bodies: what a record's own signature costs.
const reference = makeTestNode(meshId);
const entries = Array.from({length: nodes}, (_, i) => typicalRecord(reference, i, {version: FIXTURE_NOW + i}));
const ed25519 = time(() => {
  for (const entry of entries) verifySignature(reference.identity.signingKey, entry.body, entry.signature);
});
const ed25519Us = (ed25519.cpuMs * 1000) / nodes;

const result = {
  date: new Date().toISOString(),
  machine: {cpus: availableParallelism(), node: process.version, loadStart: load, loadEnd: loadavg()},
  nodes,
  sizes,
  revocationSizes,
  verification,
  ed25519Us,
};
if (args.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const out = (text) => process.stdout.write(`${text}\n`);
  out(`membership credentials: ${nodes} nodes per kind; ${result.machine.cpus} CPUs, Node ${process.version}, load ${load.map((l) => l.toFixed(2)).join(' ')}`);
  out('\nbytes per typical record (as it travels: MessagePack {body, signature})');
  out(`${'credential'.padEnd(36)} ${'credential'.padStart(10)} ${'without'.padStart(8)} ${'with'.padStart(8)} ${'+'.padStart(6)}`);
  for (const s of sizes) out(`${s.kind.padEnd(36)} ${String(s.credentialBytes).padStart(10)} ${String(s.signedWithout).padStart(8)} ${String(s.signedWith).padStart(8)} ${`${Math.round(((s.signedWith - s.signedWithout) / s.signedWithout) * 100)}%`.padStart(6)}`);
  out(`revocation entry: ${revocationSizes.authority} bytes signed by the authority, ${revocationSizes.grantedAdmin} by a granted admin`);
  out('\nverifyEntry per entry, CPU µs (wall µs)');
  out(`${'credential'.padEnd(36)} ${'cold'.padStart(14)} ${'memoised'.padStart(14)}`);
  for (const v of verification) out(`${v.kind.padEnd(36)} ${`${v.coldUs.toFixed(0)} (${v.coldWallUs.toFixed(0)})`.padStart(14)} ${`${v.memoisedUs.toFixed(0)} (${v.memoisedWallUs.toFixed(0)})`.padStart(14)}`);
  out(`Ed25519 verification alone: ${ed25519Us.toFixed(0)} µs CPU`);
}

import {describe, expect, it} from 'vitest';
import {ALIAS_CLAIM_SLACK_MS, AliasClaims} from '../src/model/alias-claims.js';
import {resolveAliases} from '../src/model/aliases.js';
import {makeTestNode, testMeshId, SimulatedClock} from '@wgmesh/testkit';

describe('alias claim times', () => {
  const meshId = testMeshId();

  it('date a claim by its createdAt, but never earlier than the slack before it was first seen', async () => {
    const clock = new SimulatedClock();
    const claims = new AliasClaims(clock);
    const honest = makeTestNode(meshId, {now: clock.now()}).recordBody({alias: 'db'});
    claims.observe(honest);
    expect(claims.claimTime(honest)).toBe(honest.createdAt);
    await clock.advance(ALIAS_CLAIM_SLACK_MS + 1);
    const backdated = makeTestNode(meshId).recordBody({alias: 'db', createdAt: 0});
    claims.observe(backdated);
    expect(claims.claimTime(backdated)).toBe(clock.now() - ALIAS_CLAIM_SLACK_MS);
    expect(resolveAliases([backdated, honest], claims.claimTime.bind(claims)).owners.get('db')).toBe(honest.id);
    // Without the sighting the backdated claim would have won: the rule is what decides.
    expect(resolveAliases([backdated, honest]).owners.get('db')).toBe(backdated.id);
  });

  it('keep the first sighting while the alias stays, and date a new alias anew', async () => {
    const clock = new SimulatedClock();
    const claims = new AliasClaims(clock);
    const node = makeTestNode(meshId, {now: 0});
    claims.observe(node.recordBody({alias: 'web'}));
    const seen = clock.now();
    await clock.advance(60_000);
    const revision = claims.revision;
    claims.observe(node.recordBody({alias: 'web', version: 5}));
    expect(claims.lines()).toEqual([[node.id, 'web', seen]]);
    // Nothing changed: nothing to save.
    expect(claims.revision).toBe(revision);
    claims.observe(node.recordBody({alias: 'api'}));
    expect(claims.lines()).toEqual([[node.id, 'api', clock.now()]]);
    expect(claims.revision).toBe(revision + 1);
    claims.observe(node.recordBody({alias: null}));
    expect(claims.lines()).toEqual([]);
    expect(claims.revision).toBe(revision + 2);
  });

  it('adopt saved or sent times only for the claims the records make, and never from the future', () => {
    const clock = new SimulatedClock();
    const claims = new AliasClaims(clock);
    const [a, b, c] = [makeTestNode(meshId), makeTestNode(meshId), makeTestNode(meshId)];
    const records = [a.recordBody({alias: 'a'}), b.recordBody({alias: 'b'}), c.recordBody({alias: 'c'})];
    claims.adopt(
      [
        [a.id, 'a', 1_000],
        [b.id, 'other', 1_000],
        [c.id, 'c', clock.now() + 3_600_000],
      ],
      records,
    );
    expect(new Map(claims.lines().map(([id, alias, at]) => [id, [alias, at]]))).toEqual(
      new Map([
        [a.id, ['a', 1_000]],
        [b.id, ['b', clock.now()]],
        [c.id, ['c', clock.now()]],
      ]),
    );
  });
});

/**
 * What a name in the `wgmesh.` zone means on this node: the mesh addresses it
 * stands for, decided from the live view of each mesh with the one alias rule
 * every node uses ({@link resolveAliases}), so every node answers alike.
 */
import {isMeshId} from '../addressing/mesh-id.js';
import {resolveAliases, type ClaimTime} from '../model/aliases.js';
import type {NodeRecord} from '../model/record.js';
import type {ZoneName} from './names.js';

/** The meshes of this node as the DNS server sees them (the daemon implements it over its runtimes). */
export interface AliasSource {
  /** Ids of the meshes this node is in. */
  meshIds(): Iterable<string>;
  /** The live records of one mesh (tombstoned and dead members left out), or undefined when this node is not in it. */
  liveRecords(meshId: string): readonly NodeRecord[] | undefined;
  /** The time of each alias claim in one mesh (default: the record's `createdAt`). */
  claimTime?(meshId: string): ClaimTime | undefined;
}

/** The outcome of looking a name up. */
export type NameLookup =
  /** The name exists; `addresses` are its AAAA data (empty for a name that only has children). */
  | {exists: true; addresses: string[]}
  /** The name does not exist; `ambiguous` when it is an alias that different nodes own in different meshes. */
  | {exists: false; ambiguous: boolean};

const MISSING: NameLookup = {exists: false, ambiguous: false};

/** The owner of `alias` in one mesh's live records, if any. */
function ownerRecord(records: readonly NodeRecord[], alias: string, claimTime: ClaimTime | undefined): NodeRecord | undefined {
  const owner = resolveAliases(records, claimTime).owners.get(alias);
  return owner === undefined ? undefined : records.find((record) => record.id === owner);
}

/**
 * `LABEL.wgmesh.`: the alias when one node owns it in every mesh of this node
 * that has it (its address in each of those meshes, by mesh id), nothing when
 * different nodes own it in different meshes (ask `ALIAS.MESH_ID.wgmesh.`),
 * else a mesh id of this node as a name with children only.
 */
function lookupSingle(label: string, source: AliasSource): NameLookup {
  const found: {meshId: string; record: NodeRecord}[] = [];
  const meshIds = [...source.meshIds()].sort();
  for (const meshId of meshIds) {
    const record = ownerRecord(source.liveRecords(meshId) ?? [], label, source.claimTime?.(meshId));
    if (record) found.push({meshId, record});
  }
  if (found.length > 0) {
    if (new Set(found.map(({record}) => record.id)).size > 1) return {exists: false, ambiguous: true};
    return {exists: true, addresses: found.map(({record}) => record.address)};
  }
  return isMeshId(label) && meshIds.includes(label) ? {exists: true, addresses: []} : MISSING;
}

/** Look a name of the zone up in this node's meshes. */
export function lookupName(name: ZoneName, source: AliasSource): NameLookup {
  switch (name.kind) {
    case 'apex':
      return {exists: true, addresses: []};
    case 'single':
      return lookupSingle(name.label, source);
    case 'qualified': {
      const records = source.liveRecords(name.meshId);
      const record = records ? ownerRecord(records, name.alias, source.claimTime?.(name.meshId)) : undefined;
      return record ? {exists: true, addresses: [record.address]} : MISSING;
    }
    case 'deep':
      return MISSING;
  }
}

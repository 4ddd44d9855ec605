import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {decode as unpack} from 'msgpackr';
import {checkEntryContent} from '@wgmesh/core';
const sodium = createRequire(import.meta.resolve('@wgmesh/core'))('sodium-native');
const orig = sodium.crypto_sign_verify_detached;
let inSig = 0;
sodium.crypto_sign_verify_detached = (...a) => { const t = performance.now(); const r = orig(...a); inSig += performance.now() - t; return r; };
for (const dir of process.argv.slice(2)) {
  const snap = unpack(readFileSync(`${dir}/snapshot.bin`));
  inSig = 0;
  let t = performance.now();
  for (const e of snap.entries) checkEntryContent(e, snap.meshId);
  const total = performance.now() - t;
  console.log(dir, 'us/entry', (total / snap.entries.length * 1000).toFixed(0), 'of which sig', (inSig / snap.entries.length * 1000).toFixed(0));
}

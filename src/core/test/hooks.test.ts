import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {runHooks} from '../src/runtime/hooks.js';
import {recordingLogger} from '@wgmesh/testkit';

describe('hook commands', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-hooks-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  it('run in order through the shell with the interface and mesh in the environment; a failure is logged and does not stop the rest', async () => {
    const out = join(dir, 'out');
    const logger = recordingLogger();
    await runHooks(
      'postUp',
      [`echo "one $WGMESH_INTERFACE $WGMESH_MESH_ID" >> ${out}`, 'exit 3', `echo two | tr a-z A-Z >> ${out}`],
      {interfaceName: 'wgmtest', meshId: 'mesh', logger},
    );
    expect(await readFile(out, 'utf8')).toBe('one wgmtest mesh\nTWO\n');
    const failures = logger.lines.filter((line) => line.level === 'warn');
    expect(failures).toHaveLength(1);
    expect(JSON.stringify(failures[0])).toContain('exit 3');
  });
});

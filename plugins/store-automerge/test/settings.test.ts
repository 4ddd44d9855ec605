import {ConfigError} from '@wgmesh/core';
import {DEFAULT_HISTORY_LIMIT, resolveSettings} from '@wgmesh/store-automerge';
import {describe, expect, it} from 'vitest';

describe('automerge store: the automerge: config section', () => {
  it('defaults every key when the section is absent or empty', () => {
    expect(resolveSettings(undefined)).toEqual({historyLimit: DEFAULT_HISTORY_LIMIT});
    expect(resolveSettings({})).toEqual({historyLimit: DEFAULT_HISTORY_LIMIT});
    expect(resolveSettings({historyLimit: 500})).toEqual({historyLimit: 500});
  });

  for (const [section, message] of [
    [{historyLimit: 10}, 'config key automerge.historyLimit: must be an integer from 100 to 100000000'],
    [{historyLimit: 'lots'}, 'config key automerge.historyLimit: must be an integer from 100 to 100000000'],
    [{historyLimit: 1.5e3 + 0.5}, 'config key automerge.historyLimit: must be an integer from 100 to 100000000'],
    [{compact: true}, 'config key automerge'],
    ['yes', 'config key automerge'],
  ] as const) {
    it(`refuses ${JSON.stringify(section)} with one line naming the key`, () => {
      expect(() => resolveSettings(section)).toThrow(ConfigError);
      expect(() => resolveSettings(section)).toThrow(message);
    });
  }
});

import {describe, expect, it} from 'vitest';
import {StringMemo} from '../src/util/string-memo.js';

describe('StringMemo', () => {
  it('works a result out once per input, and again after a throw', () => {
    const memo = new StringMemo(10);
    const calls: string[] = [];
    const upper = (input: string) => memo.get(input, () => (calls.push(input), input.toUpperCase()));
    expect([upper('a'), upper('b'), upper('a')]).toEqual(['A', 'B', 'A']);
    expect(calls).toEqual(['a', 'b']);
    let fail = true;
    const flaky = () =>
      memo.get('c', () => {
        if (fail) throw new Error('no');
        return 'C';
      });
    expect(flaky).toThrow('no');
    fail = false;
    expect(flaky()).toBe('C');
  });

  it('holds at most its limit: full, it starts over', () => {
    const memo = new StringMemo(3);
    let computed = 0;
    const get = (input: string) => memo.get(input, () => `${input}:${++computed}`);
    for (const input of ['a', 'b', 'c']) get(input);
    expect(get('a')).toBe('a:1');
    // A fourth input empties the memo: 'a' is worked out again.
    expect(get('d')).toBe('d:4');
    expect(get('a')).toBe('a:5');
    expect(get('d')).toBe('d:4');
  });
});

import {describe, expect, it} from 'vitest';
import {BoundedMemo} from '../src/util/bounded-memo.js';

describe('BoundedMemo', () => {
  it('works a result out once per input, and again after a throw', () => {
    const memo = new BoundedMemo<string>(10);
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

  it('holds at most its limit: full, it forgets the input used longest ago', () => {
    const memo = new BoundedMemo<string>(3);
    let computed = 0;
    const get = (input: string) => memo.get(input, () => `${input}:${++computed}`);
    for (const input of ['a', 'b', 'c']) get(input);
    // 'a' is used again, so 'b' is now the one used longest ago.
    expect(get('a')).toBe('a:1');
    expect(get('d')).toBe('d:4');
    expect(get('a')).toBe('a:1');
    expect(get('c')).toBe('c:3');
    expect(get('b')).toBe('b:5');
  });
});

import { describe, expect, it } from 'vitest';
import { itemsOf } from './endpoints';

describe('list shapes', () => {
  it('reads {items} pages and bare arrays alike', () => {
    expect(itemsOf({ items: [1, 2] })).toEqual([1, 2]);
    expect(itemsOf([3])).toEqual([3]);
  });
});

import { describe, expect, it } from '@jest/globals';
import { InputError } from './errors.js';
import { parseQuery } from './openapi.js';

describe('parseQuery', () => {
  it('decodes, repeats into arrays, and treats __proto__ as a plain key', () => {
    const query = parseQuery('a=1&b=x%20y+z&a=2&flag&__proto__=p&empty=');
    expect({ ...query }).toEqual({ a: ['1', '2'], b: 'x y z', flag: '', ['__proto__']: 'p', empty: '' });
    expect(Object.getPrototypeOf(query)).toBeNull();
  });
  it('refuses malformed percent-encoding', () => {
    expect(() => parseQuery('a=%E0%A4%A')).toThrow(InputError);
  });
});

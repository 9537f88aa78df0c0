import { describe, expect, it } from '@jest/globals';
import {
  actAsHeader,
  authorize,
  bearerToken,
  createTokenVerifier,
  generateToken,
  hashToken,
  roleAllows,
} from './auth.js';
import { InputError, NotAllowedError, NotAuthenticatedError } from './errors.js';

describe('tokens', () => {
  const secret = generateToken();
  const verifier = createTokenVerifier({
    [`sha256:${hashToken(secret)}`]: { subject: 'ci', role: 'deployer' },
    'plain-token': { subject: 'someone', role: 'reader' },
  });

  it('verifies hashed and plain entries', () => {
    expect(verifier.verify(secret)).toEqual({ subject: 'ci', role: 'deployer' });
    expect(verifier.verify('plain-token')).toEqual({ subject: 'someone', role: 'reader' });
    expect(verifier.verify('nope')).toBeUndefined();
  });

  it('orders roles reader < deployer < admin', () => {
    expect(roleAllows('admin', 'deployer')).toBe(true);
    expect(roleAllows('deployer', 'deployer')).toBe(true);
    expect(roleAllows('reader', 'deployer')).toBe(false);
  });

  it('answers 401 without a valid token and 403 for a weaker role, never naming the token', () => {
    expect(() => authorize(verifier, undefined, 'reader')).toThrow(NotAuthenticatedError);
    expect(() => authorize(verifier, 'Bearer wrong', 'reader')).toThrow(NotAuthenticatedError);
    expect(() => authorize(verifier, 'Bearer plain-token', 'deployer')).toThrow(NotAllowedError);
    try {
      authorize(verifier, 'Bearer plain-token', 'admin');
    } catch (error) {
      expect((error as Error).message).not.toContain('plain-token');
    }
    expect(authorize(verifier, `Bearer ${secret}`, 'deployer').subject).toBe('ci');
  });

  it('reads only well-formed Authorization headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });

  it('refuses an entry without a valid role, naming the subject and not the token', () => {
    expect(() => createTokenVerifier({ 'secret-value': { subject: 'x', role: 'root' as never } })).toThrow(InputError);
    expect(() => createTokenVerifier({ 'secret-value': { subject: 'x', role: 'root' as never } })).not.toThrow(
      /secret-value/,
    );
  });

  it('puts ci between reader and deployer', () => {
    expect(roleAllows('ci', 'reader')).toBe(true);
    expect(roleAllows('ci', 'deployer')).toBe(false);
    expect(roleAllows('deployer', 'ci')).toBe(true);
  });

  describe('acting for a person (X-Slipway-Act-As)', () => {
    const face = createTokenVerifier({
      'chat-token': { subject: 'service:chat', role: 'deployer', delegate: true },
      'plain-token': { subject: 'someone', role: 'deployer' },
    });
    const alice = actAsHeader({ subject: 'alice', role: 'deployer', via: 'slack' });

    it('answers the person, their role and where they acted from', () => {
      expect(authorize(face, 'Bearer chat-token', 'deployer', alice)).toEqual({
        subject: 'alice',
        role: 'deployer',
        via: 'slack',
      });
    });

    it("checks the person's role, not the face's", () => {
      const reader = actAsHeader({ subject: 'bob', role: 'reader', via: 'slack' });
      expect(() => authorize(face, 'Bearer chat-token', 'deployer', reader)).toThrow(NotAllowedError);
    });

    it('refuses a token that is not a delegate, and a role above the face', () => {
      expect(() => authorize(face, 'Bearer plain-token', 'reader', alice)).toThrow(NotAllowedError);
      const admin = actAsHeader({ subject: 'eve', role: 'admin', via: 'slack' });
      expect(() => authorize(face, 'Bearer chat-token', 'reader', admin)).toThrow(NotAllowedError);
      expect(() => authorize(face, 'Bearer chat-token', 'reader', 'alice')).toThrow(NotAuthenticatedError);
    });
  });
});

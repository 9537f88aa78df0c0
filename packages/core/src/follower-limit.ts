/**
 * Places for long-lived followers (event streams): counted per subject (a token's person) and in
 * total; beyond either cap a new follower is refused with a 429 in words.
 */
import { TooManyRequestsError } from './errors.js';

export interface FollowerLimitOptions {
  /** Followers one subject may have at once. */
  perSubject?: number;
  /** Followers the process serves at once. */
  total?: number;
}

export interface FollowerLimit {
  /** A place for `subject` (its release frees it, once), or a TooManyRequestsError. */
  take(subject: string): () => void;
  readonly following: number;
}

export function createFollowerLimit({ perSubject = 20, total = 500 }: FollowerLimitOptions = {}): FollowerLimit {
  const bySubject = new Map<string, number>();
  let count = 0;
  return {
    take(subject) {
      const mine = bySubject.get(subject) ?? 0;
      if (mine >= perSubject)
        throw new TooManyRequestsError(`${subject} already follows ${mine} streams, the most one may at once`);
      if (count >= total) throw new TooManyRequestsError(`this service already serves ${count} followers, its most`);
      bySubject.set(subject, mine + 1);
      count++;
      let gone = false;
      return () => {
        if (gone) return;
        gone = true;
        count--;
        const left = (bySubject.get(subject) ?? 1) - 1;
        if (left > 0) bySubject.set(subject, left);
        else bySubject.delete(subject);
      };
    },
    get following() {
      return count;
    },
  };
}

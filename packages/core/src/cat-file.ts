/**
 * One long-lived `git cat-file --batch` per repository: requests are written one a line and
 * answered in order, so concurrent reads are pipelined through one process instead of spawning
 * git per request (measured in bench/config). Inputs are validated by the caller; a newline
 * could not reach here (it would split one request into two).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { gitEnvironment } from './git-env.js';

export type GitObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export interface GitObject {
  oid: string;
  type: GitObjectType;
  content: Buffer;
}

interface Pending {
  resolve(object: GitObject | undefined): void;
  reject(error: Error): void;
}

/** One running process: its own queue and buffer, so a closed one still answers what it was asked. */
interface Batch {
  child: ChildProcessByStdio<Writable, Readable, Readable>;
  pending: Pending[];
  buffer: Buffer;
  header?: { oid: string; type: GitObjectType; size: number };
}

export class CatFile {
  private batch: Batch | undefined;

  constructor(private readonly gitDir: string) {}

  /** The object a revision names (`<commit>`, `main^{commit}`, `<commit>:path`), or undefined. */
  read(revision: string): Promise<GitObject | undefined> {
    if (/[\n\r\0]/.test(revision)) return Promise.reject(new Error('revision contains a line break or NUL'));
    const batch = (this.batch ??= this.start());
    return new Promise((resolve, reject) => {
      batch.pending.push({ resolve, reject });
      batch.child.stdin.write(`${revision}\n`);
    });
  }

  /** Ends the process once the requests already written are answered; the next read starts a new one. */
  close(): void {
    this.batch?.child.stdin.end();
    this.batch = undefined;
  }

  private start(): Batch {
    const child = spawn('git', ['cat-file', '--batch'], {
      cwd: this.gitDir,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: gitEnvironment(),
    });
    const batch: Batch = { child, pending: [], buffer: Buffer.alloc(0) };
    child.stdout.on('data', (chunk: Buffer) => {
      batch.buffer = batch.buffer.length ? Buffer.concat([batch.buffer, chunk]) : chunk;
      drain(batch);
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const fail = (error: Error) => {
      for (const request of batch.pending.splice(0)) request.reject(error);
      if (this.batch === batch) this.batch = undefined;
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`git cat-file exited (${code}): ${stderr.trim()}`)));
    child.stdin.on('error', () => {}); // reported through 'exit'
    return batch;
  }
}

function drain(batch: Batch): void {
  for (;;) {
    if (!batch.header) {
      const newline = batch.buffer.indexOf(10);
      if (newline < 0) return;
      const line = batch.buffer.subarray(0, newline).toString('utf8');
      batch.buffer = batch.buffer.subarray(newline + 1);
      const parts = line.split(' ');
      if (parts.length === 3 && /^[0-9a-f]{40,64}$/.test(parts[0]!)) {
        batch.header = { oid: parts[0]!, type: parts[1] as GitObjectType, size: Number(parts[2]) };
      } else {
        // `<revision> missing` or `<revision> ambiguous`
        batch.pending.shift()?.resolve(undefined);
        continue;
      }
    }
    const { oid, type, size } = batch.header;
    if (batch.buffer.length < size + 1) return;
    const content = Buffer.from(batch.buffer.subarray(0, size));
    batch.buffer = batch.buffer.subarray(size + 1);
    batch.header = undefined;
    batch.pending.shift()?.resolve({ oid, type, content });
  }
}

export interface CommitInfo {
  commit: string;
  parents: string[];
  author: string;
  authorEmail: string;
  authoredAt: string;
  committedAt: string;
  message: string;
}

/** A raw commit object, as cat-file gives it, read into its parts. */
export function parseCommit(oid: string, content: Buffer): CommitInfo {
  const text = content.toString('utf8');
  const split = text.indexOf('\n\n');
  const headers = (split < 0 ? text : text.slice(0, split)).split('\n');
  const message = split < 0 ? '' : text.slice(split + 2).trimEnd();
  const info: CommitInfo = {
    commit: oid,
    parents: [],
    author: '',
    authorEmail: '',
    authoredAt: '',
    committedAt: '',
    message,
  };
  for (const header of headers) {
    const space = header.indexOf(' ');
    const key = header.slice(0, space);
    const value = header.slice(space + 1);
    if (key === 'parent') info.parents.push(value);
    if (key === 'author' || key === 'committer') {
      const match = /^(.*) <([^>]*)> (\d+) ([+-]\d{4})$/.exec(value);
      if (!match) continue;
      const at = new Date(Number(match[3]) * 1000).toISOString();
      if (key === 'author') {
        info.author = match[1]!;
        info.authorEmail = match[2]!;
        info.authoredAt = at;
      } else {
        info.committedAt = at;
      }
    }
  }
  return info;
}

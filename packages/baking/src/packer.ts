/**
 * Packer, run the one way it is safe to: execa with an argument array (never a shell), every
 * value as a `-var`, `-machine-readable` output parsed line by line as it comes.
 *
 * Stopped the way Packer expects to be: an interrupt to its whole process group, as a terminal's
 * Ctrl-C is (Packer runs as a wrapper and a child, and the wrapper ignores a SIGINT of its own;
 * a SIGTERM kills the wrapper and leaves the child building). Packer then cancels and cleans up
 * — terminates its builder instance, deletes its temporary security group and key pair,
 * deregisters a half-made image — which takes minutes on AWS; only after `cleanupMs` is the
 * group killed.
 */
import { execa, type ResultPromise } from 'execa';

export interface PackerLine {
  timestamp: number;
  target: string;
  type: string;
  data: string[];
}

/**
 * One `-machine-readable` line: `timestamp,target,type,data...`, where commas inside the data
 * are written `%!(PACKER_COMMA)` and newlines `\n`.
 */
export function parseMachineReadable(line: string): PackerLine | undefined {
  const parts = line.split(',');
  if (parts.length < 3 || !/^\d+$/.test(parts[0]!)) return undefined;
  const [timestamp, target, type, ...data] = parts;
  return {
    timestamp: Number(timestamp),
    target: target!,
    type: type!,
    data: data.map((d) => d.replaceAll('%!(PACKER_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r')),
  };
}

/** What a person reads of a line: ui messages and errors; undefined for bookkeeping lines. */
export function describeLine(line: PackerLine): string | undefined {
  if (line.type === 'ui') return line.data.slice(1).join(',');
  if (line.type === 'error') return `error: ${line.data.join(',')}`;
  if (line.type === 'artifact' && line.data[1] === 'id') return `artifact: ${line.data[2]}`;
  return undefined;
}

/** The artifact id a build reported (`artifact,0,id,eu-west-1:ami-123` → `ami-123`). */
export function artifactId(line: PackerLine): string | undefined {
  if (line.type !== 'artifact' || line.data[1] !== 'id') return undefined;
  const id = line.data[2] ?? '';
  return id.includes(':') ? id.split(':').pop() : id;
}

export interface PackerRun {
  template: string;
  vars: Record<string, string>;
  cwd?: string;
  onLine(line: PackerLine, text: string | undefined): void;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** How long Packer may clean up after an interrupt before it is killed (default 10 minutes). */
  cleanupMs?: number;
  /** More environment for Packer (its AWS credentials and region come from the service's own). */
  env?: Record<string, string>;
}

export interface PackerResult {
  ok: boolean;
  exitCode?: number;
  reason?: string;
  artifactIds: string[];
  /** Interrupted, and killed before it had cleaned up: what it made may still be there. */
  killed?: boolean;
}

const CLEANUP_MS = 10 * 60_000;

/** A signal to every process of a group; one already gone is fine. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

const VAR_NAME = /^[a-z_][a-z0-9_]*$/;

export async function packerBuild({
  template,
  vars,
  cwd,
  onLine,
  signal,
  timeoutMs,
  cleanupMs = CLEANUP_MS,
  env = {},
}: PackerRun): Promise<PackerResult> {
  const args = ['build', '-machine-readable', '-color=false'];
  for (const [name, value] of Object.entries(vars)) {
    if (!VAR_NAME.test(name)) throw new Error(`packer variable name ${name} is not valid`);
    args.push('-var', `${name}=${value}`);
  }
  args.push(template);
  const artifactIds: string[] = [];
  const subprocess: ResultPromise = execa('packer', args, {
    cwd,
    reject: false,
    all: true,
    // A process group of its own, to be interrupted whole.
    detached: true,
    env: { ...env, CHECKPOINT_DISABLE: '1', PACKER_NO_COLOR: '1' },
  });
  const group = subprocess.pid;
  let interrupted: 'cancelled' | 'timed out' | undefined;
  let killed = false;
  let killer: NodeJS.Timeout | undefined;
  const interrupt = (why: 'cancelled' | 'timed out') => {
    if (interrupted || group === undefined) return;
    interrupted = why;
    signalGroup(group, 'SIGINT');
    killer = setTimeout(() => {
      killed = true;
      signalGroup(group, 'SIGKILL');
    }, cleanupMs);
  };
  const onAbort = () => interrupt('cancelled');
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = timeoutMs ? setTimeout(() => interrupt('timed out'), timeoutMs) : undefined;
  let buffered = '';
  subprocess.all?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const raw = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const line = parseMachineReadable(raw);
      if (!line) continue;
      const id = artifactId(line);
      if (id) artifactIds.push(id);
      onLine(line, describeLine(line));
    }
  });
  const result = await subprocess;
  clearTimeout(timer);
  clearTimeout(killer);
  signal?.removeEventListener('abort', onAbort);
  // Nothing of an interrupted run outlives it (a plugin its killed parent left).
  if (interrupted && group !== undefined) signalGroup(group, 'SIGKILL');
  if (result.exitCode === 0 && !interrupted) return { ok: true, exitCode: 0, artifactIds };
  const reason =
    interrupted === 'cancelled'
      ? 'cancelled'
      : interrupted === 'timed out'
        ? `timed out after ${Math.round((timeoutMs ?? 0) / 1000)} s`
        : `packer exited with ${result.exitCode ?? result.signal}`;
  return {
    ok: false,
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    reason,
    artifactIds,
    ...(killed ? { killed } : {}),
  };
}

/**
 * Packer, run the one way it is safe to: execa with an argument array (never a shell), every
 * value as a `-var`, `-machine-readable` output parsed line by line as it comes.
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
}

export interface PackerResult {
  ok: boolean;
  exitCode?: number;
  reason?: string;
  artifactIds: string[];
}

const VAR_NAME = /^[a-z_][a-z0-9_]*$/;

export async function packerBuild({
  template,
  vars,
  cwd,
  onLine,
  signal,
  timeoutMs,
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
    ...(signal ? { cancelSignal: signal } : {}),
    ...(timeoutMs ? { timeout: timeoutMs } : {}),
    forceKillAfterDelay: 5000,
    env: { CHECKPOINT_DISABLE: '1', PACKER_NO_COLOR: '1' },
  });
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
  if (result.exitCode === 0) return { ok: true, exitCode: 0, artifactIds };
  const reason = result.isCanceled
    ? 'cancelled'
    : result.timedOut
      ? `timed out after ${Math.round((timeoutMs ?? 0) / 1000)} s`
      : `packer exited with ${result.exitCode ?? result.signal}`;
  return { ok: false, ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}), reason, artifactIds };
}

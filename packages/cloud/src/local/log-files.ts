/**
 * The local cloud's own log files roll over by size. Their writers are detached processes
 * (instances, the load balancer process) holding the file open for append, and they must
 * outlive the daemon, so no writer-side roller (pino-roll) can reach them: the daemon rolls
 * each file as logrotate's `copytruncate` does. The newest lines stay in `<name>.log`, the
 * older ones in `<name>.1.log` (newest) … `<name>.<keep>.log`. Lines written between the copy
 * and the truncation are lost, as with logrotate; a writer appending (O_APPEND) goes on at the
 * start of the emptied file.
 */
import { copyFile, rename, stat, truncate } from 'node:fs/promises';

export interface LogRollOptions {
  /** A file rolls over once it is this many bytes or more. */
  maxBytes: number;
  /** How many older files are kept beside the current one. */
  keep: number;
}

export const DEFAULT_LOG_ROLL: LogRollOptions = { maxBytes: 10 * 1024 * 1024, keep: 5 };

/** `10m`, `512k`, `1g`, `2048` or `2048b` (pino-roll's notation, as SLIPWAY_LOG_SIZE is written) → bytes. */
export function parseLogSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(text.trim());
  if (!match) throw new Error(`log size '${text}' is not a size like 10m, 512k or 1g`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as '' | 'b'];
  return Math.floor(Number(match[1]) * unit);
}

/** Rolls `file` (`…/name.log`) over when it has grown to the limit; true when it did. */
export async function rollLogFile(file: string, { maxBytes, keep }: LogRollOptions): Promise<boolean> {
  const size = await stat(file).then(
    (s) => s.size,
    () => 0,
  );
  if (size < maxBytes) return false;
  const numbered = (n: number) => file.replace(/(\.log)?$/, `.${n}$1`);
  for (let n = keep - 1; n >= 1; n--) {
    await rename(numbered(n), numbered(n + 1)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  if (keep >= 1) await copyFile(file, numbered(1));
  await truncate(file, 0);
  return true;
}

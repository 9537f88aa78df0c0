import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loginFile } from '../api.js';
import { CliError } from '../errors.js';
import { line } from '../output.js';

/** Stores a token for later commands (mode 600); reads it from stdin when not given. */
export async function login(token: string | undefined): Promise<void> {
  let value = token;
  if (!value) {
    if (process.stdin.isTTY) {
      const { password } = await import('@inquirer/prompts');
      value = await password({ message: 'Token:' });
    } else {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      value = Buffer.concat(chunks).toString('utf8').trim();
    }
  }
  if (!value) throw new CliError('no token given', true);
  const file = loginFile();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  line(`token stored in ${file}`);
}

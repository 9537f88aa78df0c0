import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { endpoint, loginFile } from '../api.js';
import { CliError } from '../errors.js';
import { line } from '../output.js';

/** Asks the metadata service whether it takes the token, before anything is stored. */
async function check(token: string): Promise<void> {
  const { url, via } = endpoint('metadata');
  let response: Response;
  try {
    response = await fetch(`${url}/services?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new CliError(`cannot reach the metadata service at ${url} (${via}) to check the token: nothing stored`);
  }
  if (response.status === 401) throw new CliError(`the metadata service at ${url} refused this token: nothing stored`);
  if (!response.ok) throw new CliError(`the metadata service at ${url} answered ${response.status}: nothing stored`);
}

/** Stores a token for later commands (mode 600) once a service accepts it; from stdin when not given. */
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
  await check(value);
  const file = loginFile();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  line(`token accepted and stored in ${file}`);
  if (process.env.SLIPWAY_TOKEN) line('note: SLIPWAY_TOKEN is set, and is used before the stored token');
}

export async function logout(): Promise<void> {
  const file = loginFile();
  if (!existsSync(file)) {
    line(`no stored token (${file})`);
    return;
  }
  await rm(file);
  line(`removed ${file}`);
}

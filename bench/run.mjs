// `npm run bench -- <name>`: builds what is needed, then runs bench/<name>.mjs, which starts
// everything it measures itself and prints one `figure: value unit` a line.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const name = process.argv[2];
const available = readdirSync(new URL('.', import.meta.url))
  .filter((file) => file.endsWith('.mjs') && file !== 'run.mjs' && !file.startsWith('_'))
  .map((file) => file.replace(/\.mjs$/, ''));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}>`);
  process.exit(2);
}
const setup = spawnSync('bash', ['scripts/setup.sh'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const file = new URL(`${name}.mjs`, import.meta.url);
if (!existsSync(file)) process.exit(2);
const result = spawnSync(process.execPath, [file.pathname, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(result.status ?? 1);

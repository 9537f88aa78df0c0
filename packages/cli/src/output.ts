/** What a command prints: the API's answer with --json, else lines for a person (colour only on a terminal, never with NO_COLOR). */
export interface GlobalOptions {
  json?: boolean;
}

const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const bold = paint(1);

export function line(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Prints `value` as JSON with --json, else the human lines. */
export function show(options: GlobalOptions, value: unknown, human: () => void): void {
  if (options.json) line(JSON.stringify(value, null, 2));
  else human();
}

// eslint-disable-next-line no-control-regex
const visible = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '').length;

/** Columns padded by what shows, not by the colour codes. */
export function table(rows: string[][]): void {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => visible(r[i] ?? '')))) ?? [];
  // One write for the whole table: a write per row costs more than the rows at thousands of them.
  const text = rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell)))).join('  '),
  );
  if (text.length) line(text.join('\n'));
}

export function stateColour(state: string): string {
  if (state === 'succeeded' || state === 'healthy') return green(state);
  if (state === 'failed' || state === 'rolled-back' || state === 'unhealthy' || state === 'cancelled')
    return red(state);
  return yellow(state);
}

export function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`;
}

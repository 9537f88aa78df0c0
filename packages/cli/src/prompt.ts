/**
 * Missing arguments: with a terminal attached, offer the choices (services from metadata,
 * environments from config, images from baking, newest first); without one, a usage error —
 * never a hang waiting for input nobody will type.
 */
import { CliError } from './errors.js';

export const isInteractive = () => process.stdin.isTTY === true && process.stdout.isTTY === true;

export async function choose(what: string, choices: () => Promise<string[]>): Promise<string> {
  if (!isInteractive()) throw new CliError(`missing ${what}`, true);
  const options = await choices();
  if (options.length === 0) throw new CliError(`no ${what} to choose from`);
  const { select } = await import('@inquirer/prompts');
  return select({ message: `Which ${what}?`, choices: options.map((value) => ({ value })) });
}

/** Asks for a value on a terminal; without one, a usage error naming the option that gives it. */
export async function ask(what: string, option?: string): Promise<string> {
  if (!isInteractive()) throw new CliError(`missing ${option ?? what}`, true);
  const { input } = await import('@inquirer/prompts');
  return input({ message: `${what}:`, required: true });
}

/** Yes or no on a terminal; never asked without one (the caller decides what that means). */
export async function confirm(question: string): Promise<boolean> {
  const { confirm: yesNo } = await import('@inquirer/prompts');
  return yesNo({ message: question, default: false });
}

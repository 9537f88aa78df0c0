/**
 * The IAM policy the README documents (templates/aws/iam-policy.json) against what the code really
 * asks AWS for: every moto test file records the calls signed with the code's key (moto's
 * recorder), writes them to test/artifacts/aws-actions/<file>.json for scripts/aws-policy.mjs,
 * which generates the policy from them, and fails when one of them is not in the policy.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SLIPWAY_ACCESS_KEY, type TestMoto } from './moto.js';

export const POLICY_FILE = fileURLToPath(new URL('../../../templates/aws/iam-policy.json', import.meta.url));
export const ACTIONS_DIR = fileURLToPath(new URL('../../../test/artifacts/aws-actions/', import.meta.url));

interface Statement {
  Effect: string;
  Action: string | string[];
}

/** Whether an Allow statement of the policy names the action (IAM's `*` wildcards, any case). */
export function allows(policy: { Statement: Statement[] }, action: string): boolean {
  return policy.Statement.some(
    (statement) =>
      statement.Effect === 'Allow' &&
      [statement.Action]
        .flat()
        .some((pattern) =>
          new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`, 'i').test(action),
        ),
  );
}

/**
 * The actions the code under test asked moto for so far (signed with its key), saved for the
 * policy's generator under `name`; answers those the documented policy does not allow.
 */
export async function recordAwsActions(moto: TestMoto, name: string): Promise<{ used: string[]; missing: string[] }> {
  const used = [
    ...new Set(
      (await moto.calls()).filter((call) => call.accessKeyId === SLIPWAY_ACCESS_KEY).map((call) => call.action),
    ),
  ].sort();
  mkdirSync(ACTIONS_DIR, { recursive: true });
  writeFileSync(`${ACTIONS_DIR}${name}.json`, `${JSON.stringify(used, null, 2)}\n`);
  const policy = JSON.parse(readFileSync(POLICY_FILE, 'utf8')) as { Statement: Statement[] };
  return { used, missing: used.filter((action) => !allows(policy, action)) };
}

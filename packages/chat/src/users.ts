/**
 * Who a Slack user is in Slipway: a JSON file (SLIPWAY_CHAT_USERS) mapping a Slack user id —
 * or `TEAM/USER` when one chat service serves several workspaces — to a Slipway subject and
 * role. Someone not in it is refused, whatever they ask.
 */
import { InputError, isRole, ROLES, type Role } from '@slipway/core';
import { readFileSync, statSync } from 'node:fs';

export interface ChatUser {
  subject: string;
  role: Role;
}

export interface ChatUsers {
  /** The Slipway person a Slack user is, or undefined when they are not one. */
  find(team: string | undefined, user: string): ChatUser | undefined;
}

const SUBJECT = /^[A-Za-z0-9._@:+-]{1,128}$/;

export function createChatUsers(document: Record<string, unknown>): ChatUsers {
  const users = new Map<string, ChatUser>();
  for (const [slackId, value] of Object.entries(document)) {
    const entry = value as Partial<ChatUser> | null;
    if (
      !entry ||
      typeof entry.subject !== 'string' ||
      !SUBJECT.test(entry.subject) ||
      !isRole(entry.role) ||
      entry.role === 'platform'
    ) {
      throw new InputError(
        `chat users: ${slackId} needs a subject (letters, digits, . _ @ : + -) and a person's role (${ROLES.filter((r) => r !== 'platform').join(', ')})`,
      );
    }
    users.set(slackId, { subject: entry.subject, role: entry.role });
  }
  return {
    find(team, user) {
      return (team ? users.get(`${team}/${user}`) : undefined) ?? users.get(user);
    },
  };
}

export function loadChatUsers(path: string): ChatUsers {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InputError(`cannot read the chat users file ${path}: ${(error as Error).message}`);
  }
  if (!document || typeof document !== 'object' || Array.isArray(document)) {
    throw new InputError(`chat users file ${path} must hold a JSON object of Slack user id → { subject, role }`);
  }
  return createChatUsers(document as Record<string, unknown>);
}

/**
 * The users file, read again whenever it changes (an admin adds someone without a restart).
 * A file that became unreadable keeps the last good mapping and says why in the log.
 */
export function watchedChatUsers(path: string, onError: (message: string) => void = () => {}): ChatUsers {
  let users = loadChatUsers(path);
  let seen = statSync(path).mtimeMs;
  return {
    find(team, user) {
      try {
        const mtime = statSync(path).mtimeMs;
        if (mtime !== seen) {
          users = loadChatUsers(path);
          seen = mtime;
        }
      } catch (error) {
        onError((error as Error).message);
      }
      return users.find(team, user);
    },
  };
}

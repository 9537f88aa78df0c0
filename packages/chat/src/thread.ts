/**
 * One Slack message that follows long work through its `response_url`: Slack takes at most five
 * posts to one response_url (within 30 minutes), so updates are spent only when what a person
 * would see changes, and the last post is kept for the outcome.
 */
export interface SlackMessage {
  text: string;
  response_type?: 'ephemeral' | 'in_channel';
  replace_original?: boolean;
  blocks?: unknown[];
}

/** Posts a message to the response_url (Bolt's `respond`). */
export type Respond = (message: SlackMessage) => Promise<unknown>;

export const RESPONSE_URL_USES = 5;

export class ResponseThread {
  private used = 0;
  private last: string | undefined;

  constructor(
    private readonly respond: Respond,
    /** Replace the message each time (a slash command's own); false posts a new one (a button's). */
    private readonly replace = true,
    private readonly uses = RESPONSE_URL_USES,
  ) {}

  /** The shown text, when it changed and a post can be spared; false when it was skipped. */
  async update(text: string): Promise<boolean> {
    if (text === this.last || this.used >= this.uses - 1) return false;
    await this.post(text);
    return true;
  }

  /** The outcome: always posted while any post is left; `blocks` carry its buttons (a Confirm). */
  async finish(text: string, blocks?: unknown[]): Promise<void> {
    if (text === this.last || this.used >= this.uses) return;
    await this.post(text, blocks);
  }

  private async post(text: string, blocks?: unknown[]): Promise<void> {
    this.used += 1;
    this.last = text;
    await this.respond({
      response_type: 'ephemeral',
      replace_original: this.replace,
      text,
      ...(blocks ? { blocks } : {}),
    });
  }
}

/** The GIT_* variables Git may see: how to reach a remote (its CA, the SSH command). */
export const GIT_ENVIRONMENT = new Set(['GIT_TERMINAL_PROMPT', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_SSH_COMMAND']);
const BASE_ENVIRONMENT = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR', 'XDG_CONFIG_HOME', 'SSH_AUTH_SOCK'];
const PROXY_ENVIRONMENT = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

/**
 * Git gets only what it needs to reach a remote, never an editor, pager or credential prompt
 * (a prompt would hang a fetch); simple-git refuses several of those when passed through.
 */
export function gitEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...BASE_ENVIRONMENT, ...PROXY_ENVIRONMENT, ...GIT_ENVIRONMENT]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}

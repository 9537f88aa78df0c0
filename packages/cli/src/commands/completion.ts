import type { Command } from 'commander';
import { CliError } from '../errors.js';

/** Completion of commands and subcommands, from the program itself. */
export function completion(program: Command, shell: string): string {
  const top = program.commands.map((c) => c.name());
  const subs = program.commands
    .filter((c) => c.commands.length > 0)
    .map((c) => `    ${c.name()}) words="${c.commands.map((s) => s.name()).join(' ')}" ;;`)
    .join('\n');
  const bash = `# slipway completion (bash): source <(slipway completion bash)
_slipway() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${top.join(' ')}"
  elif [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${subs}
    esac
  fi
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _slipway slipway
`;
  if (shell === 'bash') return bash;
  if (shell === 'zsh')
    return `# slipway completion (zsh): source <(slipway completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
  throw new CliError(`no completion for ${shell}: bash or zsh`, true);
}

/**
 * `slipway`: the commands, each loaded only when it runs (start-up stays fast). This is the one
 * place declaring them; only this file turns errors into messages and exit codes: 2 for usage,
 * 1 for a failure, 130 for Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CliError } from './errors.js';

type Action = (...args: never[]) => Promise<void>;
const lazy =
  <M>(load: () => Promise<M>, pick: (module: M) => Action) =>
  async (...args: unknown[]) => {
    // commander passes the command's own options then the Command; global --json is merged in.
    const command = args[args.length - 1] as Command;
    const options = { ...command.optsWithGlobals() };
    const positional = args.slice(0, -2);
    await (pick(await load()) as (...a: unknown[]) => Promise<void>)(...positional, options);
  };

/** One or two examples under a command's help, and the reminder that --json exists. */
function examples(command: Command, lines: string[], extra = ''): Command {
  return command.addHelpText(
    'after',
    `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n${extra ? `\n${extra}\n` : ''}\nAdd --json for the answer as JSON (for scripts and jq).`,
  );
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

const services = () => import('./commands/services.js');
const config = () => import('./commands/config.js');
const bake = () => import('./commands/bake.js');
const deploy = () => import('./commands/deploy.js');
const follow = () => import('./commands/follow.js');
const status = () => import('./commands/status.js');
const infra = () => import('./commands/infra.js');
const plan = () => import('./commands/plan.js');
const revert = () => import('./commands/revert.js');
const release = () => import('./commands/release.js');
const login = () => import('./commands/login.js');
const doctor = () => import('./commands/doctor.js');

const CONTROL = `Stopping or going back:
  cancel    a running deployment stops at the next action boundary or wait; the service is left as it
            was (the old group back in service, the new one destroyed).
  rollback  the same for a running deployment, recorded as a rollback (automatic on a failed check).
  undo      after a deployment finished: a new deployment of the previous release (image and config
            commit), re-enabling its group when it is still retained.`;

export function program(): Command {
  const slipway = new Command('slipway')
    .description('Deploy services to EC2 the immutable way: build, bake, deploy, watch, undo.')
    .version(version(), '-V, --version', 'the version of slipway')
    .option('--json', 'print the API answer as JSON (for scripts and jq)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    .exitOverride();

  const svc = slipway.command('services').description('the service registry (metadata)');
  examples(
    svc
      .command('list', { isDefault: true })
      .description('every service, with owner and contact')
      .action(lazy(services, (m) => m.list)),
    ['slipway services list', 'slipway services list --json | jq -r ".items[].name"'],
  );
  examples(
    svc
      .command('show [name]')
      .description("a service's metadata")
      .action(lazy(services, (m) => m.showService)),
    ['slipway services show search'],
  );
  examples(
    svc
      .command('add [name] [assignments...]')
      .description('register a new service with its properties: key=value (JSON values parse)')
      .action(lazy(services, (m) => m.add)),
    ['slipway services add search owner=team-search contact=search@example.com'],
  );
  examples(
    svc
      .command('set [name] [assignments...]')
      .description(
        'set properties of a registered service in one change: key=value (JSON values parse: replicas=3 is a number)',
      )
      .action(lazy(services, (m) => m.set)),
    [
      'slipway services set search contact=search-team@example.com',
      `slipway services set search 'production=["prod"]'`,
    ],
  );
  examples(
    svc
      .command('unset [name] [keys...]')
      .description('remove properties')
      .action(lazy(services, (m) => m.unset)),
    ['slipway services unset search contact'],
  );
  examples(
    svc
      .command('history [name]')
      .description("a service's changes: + added, - removed, ~ changed")
      .action(lazy(services, (m) => m.history)),
    ['slipway services history search'],
  );

  const cfg = slipway.command('config').description('configuration per service and environment (Git)');
  examples(
    cfg
      .command('show [service] [env]')
      .description('the files at a ref, validated')
      .option('--ref <ref>', 'a branch, tag or commit (default: the default branch)')
      .action(lazy(config, (m) => m.showConfig)),
    ['slipway config show search prod', 'slipway config show search prod --ref v2'],
  );
  examples(
    cfg
      .command('log [service] [env]')
      .description('the commits, newest first')
      .option('--ref <ref>', 'a branch, tag or commit (default: the default branch)')
      .action(lazy(config, (m) => m.log)),
    ['slipway config log search prod'],
  );
  examples(
    cfg
      .command('diff [service] [env]')
      .description('what changed between two refs: + key=value, - key, ~ key: old → new')
      .addOption(new Option('--from <ref>', 'the older ref (required)'))
      .option('--to <ref>', 'the newer ref (default: the default branch)')
      .action(lazy(config, (m) => m.diff)),
    ['slipway config diff search prod --from 3f2a9c1', 'slipway config diff search prod --from v1 --to v2'],
  );

  examples(
    slipway
      .command('build [service]')
      .description("run the service's build and upload the artifact → prints `search 1.4.0`")
      .option('--dir <dir>', 'the checkout to build (default: here)')
      .option(
        '--trust-build-command',
        "run a build command from the service's metadata without asking (anyone with deployer may change it)",
      )
      .action(
        lazy(
          () => import('./commands/build.js'),
          (m) => m.build,
        ),
      ),
    ['slipway build search --dir ../search'],
    'The build is `npm pack`, or the command in the checkout\'s slipway.json ({"build": {"command": […]}}).\nA command in the service\'s metadata (`build`) is shown and asked about first (never run without a\nterminal unless --trust-build-command). The version comes from package.json (else git describe).\nBuilding the same source again is fine; changed source needs a new version.',
  );
  examples(
    slipway
      .command('bake [service] [version]')
      .description('bake `base`, or a service version on the newest base; prints the image id last')
      .option('--rebake', 'bake again even if these inputs were baked')
      .action(lazy(bake, (m) => m.bake)),
    ['slipway bake base', 'slipway bake search 1.4.0'],
    'Ctrl-C stops following, not the bake: slipway bakes watch BAKE follows it again.',
  );
  const bakes = slipway.command('bakes').description('bakes running and done: list, watch, cancel');
  examples(
    bakes
      .command('list', { isDefault: true })
      .description('recent bakes, newest first')
      .option('--service <service>', 'only this service')
      .action(lazy(bake, (m) => m.listBakes)),
    ['slipway bakes', 'slipway bakes list --service search'],
  );
  examples(
    bakes
      .command('watch <bake>')
      .description("follow a bake's log; prints the image id last")
      .action(lazy(bake, (m) => m.watchBake)),
    ['slipway bakes watch bake-0123456789ab'],
  );
  examples(
    bakes
      .command('cancel <bake>')
      .description('stop a bake; its half-made image is removed')
      .action(lazy(bake, (m) => m.cancelBake)),
    ['slipway bakes cancel bake-0123456789ab'],
  );
  examples(
    slipway
      .command('images [service]')
      .description('baked images, newest first')
      .action(lazy(bake, (m) => m.images)),
    ['slipway images search'],
  );

  examples(
    slipway
      .command('deploy [service] [env] [image]')
      .description(
        'deploy an image (an id, or a version: the newest image of it); follows it live, exit 0 only on success',
      )
      .option('-m, --message <message>', 'why (required; asked for on a terminal)')
      .option('--ref <ref>', 'config branch, tag or commit (default: the default branch)')
      .addOption(
        new Option('--strategy <strategy>', 'how to switch').choices(['red-black', 'progressive', 'highlander']),
      )
      .option('--queue', 'wait behind a running deployment instead of being refused')
      .option(
        '--burn-in <duration>',
        'how long the new group is watched in service (30, 90s, 5m; default: deployment-params)',
      )
      .option('-y, --yes', 'confirm a production change without asking (needed without a terminal)')
      .option('--force', 'deploy even when this image and config already serve (in each cluster of a sync set)')
      .option('--no-wait', 'print the id and return')
      .option('--dry-run', 'print the source commits and config keys it would change, and exit')
      .action(lazy(plan, (m) => m.deployOrPlan)),
    [
      'slipway deploy search prod 1.4.0 -m "Faster search"',
      'slipway deploy search staging img-2f9c0a1b2c3d -m "Try it" --no-wait',
      'slipway deploy search prod 1.4.0 --dry-run',
    ],
    `An env that is a sync set (the service's clusters metadata) releases to each of its clusters.\nCtrl-C stops following, not the deployment: slipway watch DEPLOYMENT follows it again.\n\n${CONTROL}`,
  );
  examples(
    slipway
      .command('status [service] [env]')
      .description('what runs where: every cluster, a service, or one environment (groups, instances, health)')
      .option('--all', 'every cluster, not only the first 40 (those needing attention first)')
      .action(lazy(status, (m) => m.status)),
    ['slipway status', 'slipway status search prod'],
  );
  examples(
    slipway
      .command('history [service] [env]')
      .description('deployments, newest first: version, outcome, time taken, who and why')
      .option('--commits', 'each with the source commits and config keys it changed')
      .action(lazy(plan, (m) => m.historyOrCommits)),
    [
      'slipway history search',
      'slipway history search prod --commits',
      'slipway history search prod --json | jq -r ".items[0].id"',
    ],
  );
  examples(
    slipway
      .command('watch <id>')
      .description('follow a deployment or a release live; exit 0 only when it succeeds')
      .action(lazy(follow, (m) => m.watch)),
    ['slipway watch dep-abc123', 'slipway watch rel-abc123'],
    'A stream cut on the way is picked up where it was; Ctrl-C stops following, not the work.',
  );
  const controls = {
    pause: 'pause a deployment after the action it is running',
    resume: 'resume a paused deployment',
    cancel: 'cancel a running deployment: the service is left as it was',
    rollback: 'roll a running deployment back: the old group in service again',
  } as const;
  for (const [kind, description] of Object.entries(controls) as [keyof typeof controls, string][]) {
    examples(
      slipway
        .command(`${kind} <deployment>`)
        .description(description)
        .action(lazy(follow, (m) => (id: string, options: object) => m.control(kind, id, options)) as never),
      [`slipway ${kind} dep-abc123`],
      kind === 'cancel' || kind === 'rollback' ? CONTROL : '',
    );
  }
  examples(
    slipway
      .command('undo [service] [env]')
      .description('deploy the previous release (image and config commit) again; says which first')
      .option('-m, --message <message>', 'why (required; asked for on a terminal)')
      .option('-y, --yes', 'confirm a production change without asking (needed without a terminal)')
      .option('--force', 'undo even when that release already serves')
      .option('--no-wait', 'print the id and return')
      .action(lazy(deploy, (m) => m.undo)),
    ['slipway undo search prod -m "Back: 1.4.0 is slow"'],
    CONTROL,
  );

  examples(
    slipway
      .command('revert <service> <env> <commit>')
      .description('deploy the newest earlier release whose artifact does not contain that commit')
      .option('-m, --message <message>', 'why')
      .option('-y, --yes', 'confirm a production change without asking (needed without a terminal)')
      .option('--no-wait', 'print the id and return')
      .action(lazy(revert, (m) => m.revert)),
    ['slipway revert search prod 3f2a9c1 -m "3f2a9c1 breaks search"'],
  );
  examples(
    slipway
      .command('release [specs...]')
      .description('release service@version (or service@image) to every cluster of an environment, in waves')
      .option('-m, --message <message>', 'why (required)')
      .option('--env <env>', 'the environment (a sync set) of every service', 'prod')
      .addOption(
        new Option('--on-failure <what>', 'stop, or roll every cluster back').choices(['stop', 'rollback-all']),
      )
      .option('--bake <duration>', 'bake time between waves (60, 90s, 10m; default: deployment-params bakeSeconds)')
      .option('-y, --yes', 'confirm a production change without asking (needed without a terminal)')
      .option('--force', 'deploy clusters that run this image and config already (else they are skipped)')
      .option('--no-wait', 'print the id and return')
      .action(lazy(release, (m) => m.release)),
    [
      'slipway release -m "Faster search" search@1.4.0 suggest@2.1.0',
      'slipway release -m "Try" search@1.4.0 --env staging',
    ],
  );
  examples(
    slipway
      .command('promote <service> <from> <to>')
      .description('release the image serving in <from> to every cluster of <to>')
      .option('-m, --message <message>', 'why (required)')
      .option('--after <duration>', 'only once it has served in <from> this long (90s, 15m, 1h)')
      .option('--allow-downgrade', 'let it take a cluster back to an older version (else it only moves forward)')
      .option('-y, --yes', 'confirm a production change without asking (needed without a terminal)')
      .option('--no-wait', 'print the id and return')
      .action(lazy(release, (m) => m.promote)),
    ['slipway promote search staging prod -m "Verified in staging" --after 1h'],
    'A promotion only moves forward: evaluated when it runs, a cluster already running the same or a\nnewer version is skipped, saying why. A newer promotion to the same target supersedes a waiting one.',
  );
  examples(
    slipway
      .command('releases')
      .description('releases, newest first')
      .action(lazy(release, (m) => m.releases)),
    ['slipway releases', 'slipway releases --json | jq -r ".items[0].id"'],
  );
  for (const kind of ['pause', 'resume', 'cancel'] as const) {
    examples(
      slipway
        .command(`release-${kind} <id>`)
        .description(`${kind} a release`)
        .action(lazy(release, (m) => (id: string, options: object) => m.controlRelease(kind, id, options)) as never),
      [`slipway release-${kind} rel-abc123`],
    );
  }
  examples(
    slipway
      .command('sync [service]')
      .description('does every cluster of each sync set run the same image? exits 1 when not')
      .action(lazy(release, (m) => m.sync)),
    ['slipway sync', 'slipway sync search --json'],
  );

  const inf = slipway
    .command('infra')
    .description('infrastructure stacks (load balancers, security groups, roles) from Git: plan, apply, drift');
  examples(
    inf
      .command('plan <stack>')
      .description('compare the stack defined in Git with what exists; prints the changes and the plan id')
      .option('--ref <ref>', 'a branch, tag or commit of the definitions (default: the default branch)')
      .option('--allow-delete', 'plan deleting what is no longer defined')
      .action(lazy(infra, (m) => m.plan)),
    ['slipway infra plan search', 'slipway infra plan search --json | jq -r .id'],
  );
  examples(
    inf
      .command('apply <plan>')
      .description('make a plan real, step by step, under the stack lock')
      .action(lazy(infra, (m) => m.apply)),
    ['slipway infra apply plan-0123abcd'],
  );
  examples(
    inf
      .command('drift <stack>')
      .description('what changed outside Slipway since the last apply')
      .action(lazy(infra, (m) => m.drift)),
    ['slipway infra drift search'],
  );

  examples(
    slipway
      .command('doctor <cloud>')
      .description(
        'check an AWS account before the first deploy, one line each: credentials, network, IMDSv2, service-linked roles, permissions, packer',
      )
      .action(lazy(doctor, (m) => m.doctor)),
    ['slipway doctor aws', 'AWS_PROFILE=slipway slipway doctor aws --json'],
    'Run it as the services run: their AWS credentials and region, SLIPWAY_AWS_VPC_ID, SLIPWAY_AWS_SUBNETS,\nSLIPWAY_AWS_LB_SUBNETS and SLIPWAY_AWS_PERMISSIONS_BOUNDARY. Exits 1 when a check fails.',
  );
  examples(
    slipway
      .command('login [token]')
      .description('check a token with the platform, then store it for later commands (from stdin when not given)')
      .action(lazy(login, (m) => m.login)),
    ['slipway login < token.txt'],
  );
  examples(
    slipway
      .command('logout')
      .description('remove the stored token')
      .action(lazy(login, (m) => m.logout)),
    ['slipway logout'],
  );
  slipway
    .command('completion <shell>')
    .description('shell completion: source <(slipway completion bash)')
    .action(async (shell: string) => {
      const { completion } = await import('./commands/completion.js');
      process.stdout.write(completion(slipway, shell));
    });
  return slipway;
}

/** A reader that went away (`| head -1`) ends the command quietly, never with a stack trace. */
function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  const slipway = program();
  try {
    await slipway.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0)
        return 0;
      return 2; // commander has printed the usage error
    }
    if (error instanceof CliError || (error as Error).name === 'CliError') {
      const failure = error as CliError;
      process.stderr.write(`slipway: ${failure.message}\n`);
      return failure.usage ? 2 : 1;
    }
    if ((error as Error).name === 'ExitPromptError') return 130;
    process.stderr.write(`slipway: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * `slipway`: the commands, each loaded only when it runs (start-up stays fast). Only this
 * file turns errors into messages and exit codes: 2 for usage, 1 for a failure.
 */
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

const services = () => import('./commands/services.js');
const config = () => import('./commands/config.js');
const bake = () => import('./commands/bake.js');
const deploy = () => import('./commands/deploy.js');
const infra = () => import('./commands/infra.js');
const release = () => import('./commands/release.js');

export function program(): Command {
  const slipway = new Command('slipway')
    .description('Deploy services to EC2 the immutable way: build, bake, deploy, watch, undo.')
    .option('--json', 'print the API answer as JSON (for scripts and jq)')
    .showSuggestionAfterError()
    .exitOverride();

  const svc = slipway.command('services').description('the service registry (metadata)');
  svc
    .command('list', { isDefault: true })
    .description('every service')
    .action(lazy(services, (m) => m.list));
  svc
    .command('show [name]')
    .description("a service's metadata")
    .action(lazy(services, (m) => m.showService));
  svc
    .command('set [name] [assignments...]')
    .description('set properties: key=value (JSON values parse: replicas=3 is a number)')
    .action(lazy(services, (m) => m.set));
  svc
    .command('unset [name] [keys...]')
    .description('remove properties')
    .action(lazy(services, (m) => m.unset));
  svc
    .command('history [name]')
    .description("a service's changes")
    .action(lazy(services, (m) => m.history));

  const cfg = slipway.command('config').description('configuration per service and environment (Git)');
  for (const [name, description, pick] of [
    ['show', 'the files at a ref, validated', (m: Awaited<ReturnType<typeof config>>) => m.showConfig],
    ['log', 'the commits', (m: Awaited<ReturnType<typeof config>>) => m.log],
    ['diff', 'what changed between two refs (--from, --to)', (m: Awaited<ReturnType<typeof config>>) => m.diff],
  ] as const) {
    cfg
      .command(`${name} [service] [env]`)
      .description(description)
      .option('--ref <ref>', 'a branch, tag or commit')
      .option('--from <ref>')
      .option('--to <ref>')
      .action(lazy(config, pick));
  }

  slipway
    .command('build [service]')
    .description("run the service's build and upload the artifact → prints `search 3.14`")
    .option('--dir <dir>', 'where to build (default: the build property, else here)')
    .action(
      lazy(
        () => import('./commands/build.js'),
        (m) => m.build,
      ),
    );
  slipway
    .command('bake [service] [version]')
    .description('bake `base`, or a service version on the newest base; prints the image id last')
    .option('--rebake', 'bake again even if these inputs were baked')
    .action(lazy(bake, (m) => m.bake));
  slipway
    .command('images [service]')
    .description('baked images, newest first')
    .action(lazy(bake, (m) => m.images));

  slipway
    .command('deploy [service] [env] [image]')
    .description('deploy an image; follows it live and exits 0 only when it succeeded')
    .option('-m, --message <message>', 'why')
    .option('--ref <ref>', 'config branch, tag or commit (default branch when absent)')
    .addOption(new Option('--strategy <strategy>').choices(['red-black', 'progressive', 'highlander']))
    .option('--queue', 'wait behind a running deployment instead of being refused')
    .option('--burn-in <seconds>', 'how long the new group is watched in service (default: deployment-params)')
    .option('--no-wait', 'print the id and return')
    .action(lazy(deploy, (m) => m.deploy));
  slipway
    .command('status [service] [env]')
    .description('clusters, or one: groups, instances, health')
    .action(lazy(deploy, (m) => m.status));
  slipway
    .command('history [service] [env]')
    .description('deployments, newest first')
    .action(lazy(deploy, (m) => m.history));
  slipway
    .command('watch <id>')
    .description('follow a deployment live')
    .action(lazy(deploy, (m) => m.watch));
  for (const kind of ['pause', 'resume', 'cancel', 'rollback'] as const) {
    slipway
      .command(`${kind} <id>`)
      .description(`${kind} a deployment`)
      .action(lazy(deploy, (m) => (id: string, options: object) => m.control(kind, id, options)) as never);
  }
  slipway
    .command('undo [service] [env]')
    .description('deploy the previous release (image and config commit) again')
    .option('-m, --message <message>', 'why')
    .option('--no-wait', 'print the id and return')
    .action(lazy(deploy, (m) => m.undo));

  slipway
    .command('release [specs...]')
    .description('release service@version (or service@image) to every cluster of an environment, in waves')
    .option('-m, --message <message>', 'why')
    .option('--env <env>', 'the environment (a sync set) of every service', 'prod')
    .addOption(new Option('--on-failure <what>', 'stop, or roll every cluster back').choices(['stop', 'rollback-all']))
    .option('--bake <seconds>', 'bake time between waves (default: deployment-params bakeSeconds)')
    .option('--no-wait', 'print the id and return')
    .action(lazy(release, (m) => m.release));
  slipway
    .command('promote <service> <from> <to>')
    .description('release the image serving in <from> to every cluster of <to>')
    .option('-m, --message <message>', 'why')
    .option('--after <duration>', 'only once it has served in <from> this long (90s, 15m, 1h)')
    .option('--no-wait', 'print the id and return')
    .action(lazy(release, (m) => m.promote));
  slipway
    .command('releases')
    .description('releases, newest first')
    .action(lazy(release, (m) => m.releases));
  for (const kind of ['pause', 'resume', 'cancel'] as const) {
    slipway
      .command(`release-${kind} <id>`)
      .description(`${kind} a release`)
      .action(lazy(release, (m) => (id: string, options: object) => m.controlRelease(kind, id, options)) as never);
  }
  slipway
    .command('sync [service]')
    .description('does every cluster of each sync set run the same image? exits 1 when not')
    .action(lazy(release, (m) => m.sync));

  const inf = slipway.command('infra').description('infrastructure stacks: plan, apply, drift');
  inf
    .command('plan <stack>')
    .option('--ref <ref>')
    .option('--allow-delete', 'plan deleting what is no longer defined')
    .action(lazy(infra, (m) => m.plan));
  inf.command('apply <plan>').action(lazy(infra, (m) => m.apply));
  inf.command('drift <stack>').action(lazy(infra, (m) => m.drift));

  slipway
    .command('login [token]')
    .description('store a token for later commands (from stdin when not given)')
    .action(
      lazy(
        () => import('./commands/login.js'),
        (m) => m.login,
      ),
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

export async function main(argv: string[]): Promise<number> {
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
    if (error instanceof CliError) {
      process.stderr.write(`slipway: ${error.message}\n`);
      return error.usage ? 2 : 1;
    }
    if ((error as Error).name === 'ExitPromptError') return 130;
    process.stderr.write(`slipway: ${(error as Error).message}\n`);
    return 1;
  }
}

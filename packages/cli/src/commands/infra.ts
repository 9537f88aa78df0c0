import { answer, CliError, client } from '../api.js';
import { bold, dim, green, line, red, show, stateColour, yellow, type GlobalOptions } from '../output.js';

const infra = () => client('infra');
const ICON: Record<string, string> = {
  create: green('+'),
  update: yellow('~'),
  replace: red('±'),
  delete: red('-'),
  'no-op': dim('='),
};

export async function plan(stack: string, options: GlobalOptions & { ref?: string; allowDelete?: boolean }) {
  const result = await answer(
    infra().POST('/stacks/{stack}/plans', {
      params: { path: { stack } },
      body: { ...(options.ref ? { ref: options.ref } : {}), ...(options.allowDelete ? { allowDelete: true } : {}) },
    }),
    'infra',
  );
  show(options, result, () => {
    line(`${bold(result.id)}: stack ${stack} at ${result.commit.slice(0, 12)} (serial ${result.serial})`);
    for (const change of result.changes) {
      line(
        `  ${ICON[change.action]} ${change.resource} ${dim(change.kind)}${change.note ? dim(` — ${change.note}`) : ''}`,
      );
      if (change.action === 'update' || change.action === 'replace') {
        for (const field of change.changes)
          line(`      ${field.field}: ${JSON.stringify(field.old)} → ${JSON.stringify(field.new)}`);
      }
    }
    const s = result.summary;
    line(
      `${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete. Apply: slipway infra apply ${result.id}`,
    );
  });
}

export async function apply(planId: string, options: GlobalOptions) {
  const started = await answer(infra().POST('/plans/{id}/apply', { params: { path: { id: planId } } }), 'infra');
  let shown = 0;
  for (;;) {
    const current = await answer(infra().GET('/applies/{id}', { params: { path: { id: started.id } } }), 'infra');
    if (!options.json) {
      const done = current.steps.filter((s) => s.state === 'done' || s.state === 'failed');
      for (const step of done.slice(shown))
        line(
          `  ${step.state === 'done' ? green('✓') : red('✗')} ${step.action} ${step.resource} ${dim(step.detail ?? '')}`,
        );
      shown = done.length;
    }
    if (current.state === 'succeeded' || current.state === 'failed') {
      show(options, current, () => line(`${current.id} ${stateColour(current.state)}`));
      if (current.state === 'failed') throw new CliError(`${current.id} failed: ${current.error ?? ''}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

export async function drift(stack: string, options: GlobalOptions) {
  const report = await answer(infra().GET('/stacks/{stack}/drift', { params: { path: { stack } } }), 'infra');
  show(options, report, () => {
    line(`stack ${stack}: ${report.drifted ? red('drifted') : green('in sync')} (checked ${report.checkedAt})`);
    for (const r of report.resources) {
      line(`  ${r.resource} ${r.status === 'in-sync' ? green(r.status) : red(r.status)}`);
      for (const c of r.changes)
        line(`      ${c.field}: applied ${JSON.stringify(c.old)}, now ${JSON.stringify(c.new)}`);
    }
  });
}

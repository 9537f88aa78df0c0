/** The infra API: each operation of src/schema/openapi.yaml, by its operationId, typed from it. */
import {
  NotFoundError,
  principalOf,
  roleAllows,
  typedOperations,
  typedQuery,
  type OperationHandlers,
} from '@slipway/core';
import type { Infrastructure } from './infrastructure.js';
import type { StackLocks } from './lock.js';
import type { InfraOperations as operations } from '@slipway/infra-api';
import { stackSchema } from './stack.js';
import type { InfraStore } from './store.js';

export interface OperationsOptions {
  infrastructure: Infrastructure;
  store: InfraStore;
  locks: StackLocks;
}

export function createOperations({ infrastructure, store, locks }: OperationsOptions): OperationHandlers {
  return typedOperations<operations>({
    async listStacks(_req, res) {
      const { commit, stacks } = await infrastructure.listStacks();
      res.json({ commit, items: stacks });
    },
    async createPlan(req, res) {
      const { subject, role } = principalOf(req);
      const plan = await infrastructure.createPlan(
        req.params.stack,
        req.body ?? {},
        subject,
        roleAllows(role, 'admin'),
      );
      res.status(201).location(`/plans/${plan.id}`).json(plan);
    },
    async getPlan(req, res) {
      const plan = await store.getPlan(req.params.id);
      if (!plan) throw new NotFoundError(`no plan ${req.params.id}`);
      res.json(plan);
    },
    async applyPlan(req, res) {
      const { subject, role } = principalOf(req);
      const apply = await infrastructure.startApply(req.params.id, subject, roleAllows(role, 'admin'));
      const { lockToken: _token, ...shown } = apply;
      res.status(202).location(`/applies/${apply.id}`).json(shown);
    },
    async getApply(req, res) {
      const apply = await store.getApply(req.params.id);
      if (!apply) throw new NotFoundError(`no apply ${req.params.id}`);
      const { lockToken: _token, ...shown } = apply;
      res.json(shown);
    },
    async getHistory(req, res) {
      res.json({ items: await store.history(req.params.stack, typedQuery(req).limit ?? 50) });
    },
    async getDrift(req, res) {
      res.json(await infrastructure.checkDrift(req.params.stack));
    },
    async getLock(req, res) {
      const lock = await locks.get(req.params.stack);
      if (!lock) throw new NotFoundError(`stack ${req.params.stack} is not locked`);
      res.json(lock);
    },
    async breakLock(req, res) {
      res.json(await infrastructure.breakLock(req.params.stack, principalOf(req).subject));
    },
    async getStackSchema(_req, res) {
      res.json(stackSchema);
    },
  });
}

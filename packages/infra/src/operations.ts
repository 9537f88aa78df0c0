/** The infra API: each operation of src/schema/openapi.yaml, by its operationId. */
import { NotFoundError, paramsOf, principalOf, queryOf, type OperationHandlers } from '@slipway/core';
import type { Infrastructure } from './infrastructure.js';
import type { StackLocks } from './lock.js';
import { stackSchema } from './stack.js';
import type { InfraStore } from './store.js';

export interface OperationsOptions {
  infrastructure: Infrastructure;
  store: InfraStore;
  locks: StackLocks;
}

export function createOperations({ infrastructure, store, locks }: OperationsOptions): OperationHandlers {
  return {
    async listStacks(_req, res) {
      const { commit, stacks } = await infrastructure.listStacks();
      res.json({ commit, items: stacks });
    },
    async createPlan(req, res) {
      const body = (req.body ?? {}) as { ref?: string; allowDelete?: boolean };
      const plan = await infrastructure.createPlan(paramsOf(req).stack!, body, principalOf(req).subject);
      res.status(201).location(`/plans/${plan.id}`).json(plan);
    },
    async getPlan(req, res) {
      const plan = await store.getPlan(paramsOf(req).id!);
      if (!plan) throw new NotFoundError(`no plan ${paramsOf(req).id}`);
      res.json(plan);
    },
    async applyPlan(req, res) {
      const apply = await infrastructure.startApply(paramsOf(req).id!, principalOf(req).subject);
      const { lockToken: _token, ...shown } = apply;
      res.status(202).location(`/applies/${apply.id}`).json(shown);
    },
    async getApply(req, res) {
      const apply = await store.getApply(paramsOf(req).id!);
      if (!apply) throw new NotFoundError(`no apply ${paramsOf(req).id}`);
      const { lockToken: _token, ...shown } = apply;
      res.json(shown);
    },
    async getHistory(req, res) {
      res.json({ items: await store.history(paramsOf(req).stack!, queryOf(req).limit as number) });
    },
    async getDrift(req, res) {
      res.json(await infrastructure.checkDrift(paramsOf(req).stack!));
    },
    async getLock(req, res) {
      const lock = await locks.get(paramsOf(req).stack!);
      if (!lock) throw new NotFoundError(`stack ${paramsOf(req).stack} is not locked`);
      res.json(lock);
    },
    async breakLock(req, res) {
      res.json(await infrastructure.breakLock(paramsOf(req).stack!, principalOf(req).subject));
    },
    async getStackSchema(_req, res) {
      res.json(stackSchema);
    },
  };
}

import { NotFoundError, paramsOf, queryOf, type OperationHandlers } from '@slipway/core';
import type { CloudProvider, ImageKind } from '../provider.js';

/** The daemon's API: each operation of src/schema/openapi.yaml onto the provider it serves. */
export function createOperations({ cloud }: { cloud: CloudProvider }): OperationHandlers {
  const name = (req: Parameters<typeof paramsOf>[0]) => paramsOf(req).name!;
  const found = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new NotFoundError(`no ${what}`);
    return value;
  };
  return {
    async listImages(req, res) {
      const { service, kind } = queryOf(req) as { service?: string; kind?: ImageKind };
      res.json({ items: await cloud.listImages({ ...(service ? { service } : {}), ...(kind ? { kind } : {}) }) });
    },
    async imagesInUse(_req, res) {
      res.json({ items: await cloud.imagesInUse() });
    },
    async getImage(req, res) {
      const id = paramsOf(req).id!;
      res.json(found(await cloud.getImage(id), `image ${id}`));
    },
    async deregisterImage(req, res) {
      await cloud.deregisterImage(paramsOf(req).id!);
      res.status(204).end();
    },
    async createLaunchTemplate(req, res) {
      res.json(await cloud.createLaunchTemplate({ ...req.body, name: name(req) }));
    },
    async getLaunchTemplate(req, res) {
      res.json(found(await cloud.getLaunchTemplate(name(req)), `launch template ${name(req)}`));
    },
    async deleteLaunchTemplate(req, res) {
      await cloud.deleteLaunchTemplate(name(req));
      res.status(204).end();
    },
    async listServerGroups(req, res) {
      res.json({ items: await cloud.listServerGroups(String(queryOf(req).cluster)) });
    },
    async createServerGroup(req, res) {
      res.json(await cloud.createServerGroup({ ...req.body, name: name(req) }));
    },
    async getServerGroup(req, res) {
      res.json(found(await cloud.getServerGroup(name(req)), `server group ${name(req)}`));
    },
    async destroyServerGroup(req, res) {
      await cloud.destroyServerGroup(name(req));
      res.status(204).end();
    },
    async resizeServerGroup(req, res) {
      res.json(await cloud.resizeServerGroup(name(req), req.body));
    },
    async disableServerGroup(req, res) {
      res.json(await cloud.disableServerGroup(name(req)));
    },
    async enableServerGroup(req, res) {
      res.json(await cloud.enableServerGroup(name(req)));
    },
    async listLoadBalancers(_req, res) {
      res.json({ items: await cloud.listLoadBalancers() });
    },
    async createLoadBalancer(req, res) {
      res.json(await cloud.createLoadBalancer({ ...req.body, name: name(req) }));
    },
    async getLoadBalancer(req, res) {
      res.json(found(await cloud.getLoadBalancer(name(req)), `load balancer ${name(req)}`));
    },
    async modifyLoadBalancer(req, res) {
      res.json(await cloud.modifyLoadBalancer({ ...req.body, name: name(req) }));
    },
    async deleteLoadBalancer(req, res) {
      await cloud.deleteLoadBalancer(name(req));
      res.status(204).end();
    },
    async registerTargets(req, res) {
      await cloud.registerTargets(name(req), req.body.instanceIds);
      res.status(204).end();
    },
    async deregisterTargets(req, res) {
      await cloud.deregisterTargets(name(req), req.body.instanceIds);
      res.status(204).end();
    },
    async describeTargetHealth(req, res) {
      res.json({ items: await cloud.describeTargetHealth(name(req)) });
    },
  };
}

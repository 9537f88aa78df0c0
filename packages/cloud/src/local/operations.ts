import { NotFoundError, principalOf, typedOperations, typedQuery, type OperationHandlers } from '@slipway/core';
import { createFollowerLimit } from '@slipway/core/redis';
import type { CloudProvider, TrafficEvent } from '../provider.js';
import type { CloudOperations as operations } from '@slipway/cloud-api';

/**
 * The daemon's API: each operation of its document (packages/cloud-api) onto the provider it serves,
 * typed from the document both ways (what comes in, and what the provider answers).
 */
export function createOperations({ cloud }: { cloud: CloudProvider }): OperationHandlers {
  // Each follower of a traffic stream holds a subscription and a socket: capped like the services' streams.
  const followers = createFollowerLimit({ perSubject: 20, total: 200 });
  // The platform's (the orchestrators' watches, one a deployment running) are bounded by what runs, not 20.
  const platformFollowers = createFollowerLimit({ perSubject: 200, total: 200 });
  const found = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new NotFoundError(`no ${what}`);
    return value;
  };
  return typedOperations<operations>({
    async listImages(req, res) {
      const { service, kind } = typedQuery(req);
      res.json({ items: await cloud.listImages({ ...(service ? { service } : {}), ...(kind ? { kind } : {}) }) });
    },
    async imagesInUse(_req, res) {
      res.json({ items: await cloud.imagesInUse() });
    },
    async getImage(req, res) {
      const { id } = req.params;
      res.json(found(await cloud.getImage(id), `image ${id}`));
    },
    async deregisterImage(req, res) {
      await cloud.deregisterImage(req.params.id);
      res.status(204).end();
    },
    async createLaunchTemplate(req, res) {
      res.json(await cloud.createLaunchTemplate({ ...req.body, name: req.params.name }));
    },
    async getLaunchTemplate(req, res) {
      res.json(found(await cloud.getLaunchTemplate(req.params.name), `launch template ${req.params.name}`));
    },
    async deleteLaunchTemplate(req, res) {
      await cloud.deleteLaunchTemplate(req.params.name);
      res.status(204).end();
    },
    async listServerGroups(req, res) {
      res.json({ items: await cloud.listServerGroups(typedQuery(req).cluster) });
    },
    async describeClusters(_req, res) {
      res.json(await cloud.describeClusters());
    },
    async createServerGroup(req, res) {
      res.json(await cloud.createServerGroup({ ...req.body, name: req.params.name }));
    },
    async getServerGroup(req, res) {
      res.json(found(await cloud.getServerGroup(req.params.name), `server group ${req.params.name}`));
    },
    async destroyServerGroup(req, res) {
      await cloud.destroyServerGroup(req.params.name);
      res.status(204).end();
    },
    async resizeServerGroup(req, res) {
      res.json(await cloud.resizeServerGroup(req.params.name, req.body));
    },
    async disableServerGroup(req, res) {
      res.json(await cloud.disableServerGroup(req.params.name));
    },
    async enableServerGroup(req, res) {
      res.json(await cloud.enableServerGroup(req.params.name));
    },
    async listLoadBalancers(_req, res) {
      res.json({ items: await cloud.listLoadBalancers() });
    },
    async createLoadBalancer(req, res) {
      res.json(await cloud.createLoadBalancer({ ...req.body, name: req.params.name }));
    },
    async getLoadBalancer(req, res) {
      res.json(found(await cloud.getLoadBalancer(req.params.name), `load balancer ${req.params.name}`));
    },
    async modifyLoadBalancer(req, res) {
      res.json(await cloud.modifyLoadBalancer({ ...req.body, name: req.params.name }));
    },
    async deleteLoadBalancer(req, res) {
      await cloud.deleteLoadBalancer(req.params.name);
      res.status(204).end();
    },
    async registerTargets(req, res) {
      await cloud.registerTargets(req.params.name, req.body.instanceIds);
      res.status(204).end();
    },
    async deregisterTargets(req, res) {
      await cloud.deregisterTargets(req.params.name, req.body.instanceIds);
      res.status(204).end();
    },
    async describeTargetHealth(req, res) {
      res.json({ items: await cloud.describeTargetHealth(req.params.name) });
    },
    async trafficOf(req, res) {
      const { groups, since } = typedQuery(req);
      res.json({ items: await cloud.trafficOf(req.params.name, groups, new Date(since)) });
    },
    async followTraffic(req, res) {
      if (!cloud.watchTraffic) throw new NotFoundError('this cloud has no traffic stream');
      const { subject, role } = principalOf(req);
      const free = (role === 'platform' ? platformFollowers : followers).take(subject);
      req.once('close', free);
      // Subscribed first, so that a target group that is not there is a 404; what comes at once
      // (the targets failing now) waits for the headers.
      const early: TrafficEvent[] = [];
      let send = (event: TrafficEvent) => void early.push(event);
      const subscription = cloud.watchTraffic(
        req.params.name,
        (event) => send(event),
        () => res.end(),
      );
      res.status(200).setHeader('Content-Type', 'text/event-stream');
      res.setHeader('Cache-Control', 'no-cache');
      res.flushHeaders();
      send = (event) => void res.write(`data: ${JSON.stringify(event)}\n\n`);
      res.write(': following\n\n');
      for (const event of early) send(event);
      req.once('close', () => subscription.close());
    },
  });
}

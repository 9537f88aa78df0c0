import { describe, expect, it } from '@jest/globals';
import type { CloudProvider, Image } from '@slipway/cloud';
import { createLogger } from '@slipway/core';
import { prune, type BakerOptions } from './baker.js';

describe('prune', () => {
  it('keeps the newest N images of a service and never one in use', async () => {
    const images: Image[] = ['img-5', 'img-4', 'img-3', 'img-2', 'img-1'].map((id, i) => ({
      id,
      kind: 'service',
      service: 'search',
      createdAt: `2026-11-0${5 - i}T00:00:00Z`,
      tags: {},
    }));
    const deregistered: string[] = [];
    const cloud = {
      listImages: async () => images,
      imagesInUse: async () => ['img-2'],
      deregisterImage: async (id: string) => void deregistered.push(id),
    } as unknown as CloudProvider;
    const removed = await prune('search', {
      cloud,
      retention: 2,
      logger: createLogger({ name: 't', level: 'silent' }),
    } as BakerOptions);
    expect(removed).toEqual(['img-3', 'img-1']);
    expect(deregistered).toEqual(['img-3', 'img-1']);
  });
});

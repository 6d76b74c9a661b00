import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../test/support/validation.js';
import { Channel, type Queue, Strategy } from '../../gen/switchboard/v1/common.js';
import { toQueueConfig } from './queue.js';

const valid: Queue = {
  id: 'billing',
  name: 'Billing',
  channel: Channel.CHANNEL_CHAT,
  requiredSkills: [{ skill: 'billing', minLevel: 3 }],
  strategy: Strategy.STRATEGY_ROUND_ROBIN,
  onlineOnly: true,
  broadcastWidth: 0,
  priority: 5,
  serviceLevel: { target: 0.9, thresholdSeconds: 10, windowSeconds: 0 },
  businessHours: {
    timeZone: 'Europe/Paris',
    windows: [{ day: 1, open: '09:00', close: '18:00' }],
    holidays: ['2026-12-25'],
  },
  maxSize: 50,
  offerTimeoutSeconds: 20,
  overflow: [
    { afterSeconds: 30, action: { relaxSkills: { by: 1 } } },
    { afterSeconds: 60, action: { widenToQueue: { queueId: 'general' } } },
    { afterSeconds: 120, action: { escalateTier: { tier: 2 } } },
  ],
  previousAgentWaitSeconds: 15,
  newCustomersToNewAgents: true,
};

describe('queue validation', () => {
  it('a complete queue maps to the engine record, with the default window; broadcast width 0 stays 0 (all matching)', () => {
    const q = toQueueConfig(valid);
    expect(q.strategy).toBe('round_robin');
    expect(q.serviceLevel).toEqual({ target: 0.9, thresholdSeconds: 10, windowSeconds: 3600 });
    expect(q.broadcastWidth).toBe(0);
    expect(q.overflow.map((s) => s.action.kind)).toEqual(['relax_skills', 'widen_to_queue', 'escalate_tier']);
    expect(q.businessHours?.timeZone).toBe('Europe/Paris');
  });

  it('a voice queue without a service level gets 80 % in 20 s, and an empty name becomes the id', () => {
    const q = toQueueConfig({ ...valid, channel: Channel.CHANNEL_VOICE, serviceLevel: undefined, name: '' });
    expect(q.serviceLevel).toMatchObject({ target: 0.8, thresholdSeconds: 20 });
    expect(q.name).toBe('billing');
  });

  const bh = valid.businessHours!;
  const cases: [string, Partial<Queue>, string][] = [
    ['no channel', { channel: Channel.CHANNEL_UNSPECIFIED }, 'queue.channel'],
    ['unknown channel', { channel: 99 as Channel }, 'queue.channel'],
    ['no strategy', { strategy: Strategy.STRATEGY_UNSPECIFIED }, 'queue.strategy'],
    ['priority 11', { priority: 11 }, 'queue.priority'],
    [
      // The engine's own bound (MAX_OVERFLOW_STEPS): the API used to allow 20 and pass 17 on to be refused there.
      '17 overflow steps',
      {
        overflow: Array.from({ length: 17 }, (_, i) => ({
          afterSeconds: 10 * (i + 1),
          action: { relaxSkills: { by: 1 } },
        })),
      },
      'queue.overflow',
    ],
    [
      'min level 0',
      { requiredSkills: [{ skill: 'billing', minLevel: 0 }] },
      'queue.requiredSkills[0].minLevel',
    ],
    [
      'target 0',
      { serviceLevel: { target: 0, thresholdSeconds: 10, windowSeconds: 0 } },
      'queue.serviceLevel.target',
    ],
    [
      'target above 1',
      { serviceLevel: { target: 1.5, thresholdSeconds: 10, windowSeconds: 0 } },
      'queue.serviceLevel.target',
    ],
    [
      'threshold 0',
      { serviceLevel: { target: 0.9, thresholdSeconds: 0, windowSeconds: 0 } },
      'queue.serviceLevel.thresholdSeconds',
    ],
    ['broadcast width 101', { broadcastWidth: 101 }, 'queue.broadcastWidth'],
    ['offer timeout over an hour', { offerTimeoutSeconds: 3601 }, 'queue.offerTimeoutSeconds'],
    [
      'unknown time zone',
      { businessHours: { ...bh, timeZone: 'Mars/Olympus' } },
      'queue.businessHours.timeZone',
    ],
    ['no windows', { businessHours: { ...bh, windows: [] } }, 'queue.businessHours.windows'],
    [
      'day 7',
      { businessHours: { ...bh, windows: [{ day: 7, open: '09:00', close: '10:00' }] } },
      'queue.businessHours.windows[0].day',
    ],
    [
      'open 25:00',
      { businessHours: { ...bh, windows: [{ day: 1, open: '25:00', close: '26:00' }] } },
      'queue.businessHours.windows[0].open',
    ],
    [
      'closing before opening',
      { businessHours: { ...bh, windows: [{ day: 1, open: '18:00', close: '09:00' }] } },
      'queue.businessHours.windows[0].close',
    ],
    [
      '30 February holiday',
      { businessHours: { ...bh, holidays: ['2026-02-30'] } },
      'queue.businessHours.holidays[0]',
    ],
    [
      'overflow step without action',
      { overflow: [{ afterSeconds: 10, action: undefined }] },
      'queue.overflow[0].action',
    ],
    [
      'overflow step with two actions',
      { overflow: [{ afterSeconds: 10, action: { relaxSkills: { by: 1 }, escalateTier: { tier: 2 } } }] },
      'queue.overflow[0].action',
    ],
    [
      'overflow steps out of order',
      {
        overflow: [
          { afterSeconds: 60, action: { relaxSkills: { by: 1 } } },
          { afterSeconds: 30, action: { relaxSkills: { by: 1 } } },
        ],
      },
      'queue.overflow[1].afterSeconds',
    ],
    [
      'relax by 0',
      { overflow: [{ afterSeconds: 10, action: { relaxSkills: { by: 0 } } }] },
      'queue.overflow[0].action.relaxSkills.by',
    ],
    [
      'widen to itself',
      { overflow: [{ afterSeconds: 10, action: { widenToQueue: { queueId: 'billing' } } }] },
      'queue.overflow[0].action.widenToQueue.queueId',
    ],
    [
      'drop no skills',
      { overflow: [{ afterSeconds: 10, action: { dropSkills: { skills: [] } } }] },
      'queue.overflow[0].action.dropSkills.skills',
    ],
    [
      'escalate to tier 0',
      { overflow: [{ afterSeconds: 10, action: { escalateTier: { tier: 0 } } }] },
      'queue.overflow[0].action.escalateTier.tier',
    ],
  ];
  it.each(cases)('%s is rejected naming the field', (_name, patch, field) => {
    expect(fieldOf(() => toQueueConfig({ ...valid, ...patch }))).toBe(field);
  });
});

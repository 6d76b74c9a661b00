import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../test/support/validation.js';
import { type Agent, Seniority } from '../../gen/switchboard/v1/common.js';
import { checkOutcome, checkPresence, toAgentConfig } from './agent.js';

const valid: Agent = {
  id: 'ana',
  displayName: 'Ana Lima',
  skills: [
    { skill: 'billing', level: 7 },
    { skill: 'lang:fr', level: 4 },
  ],
  teams: ['support'],
  tier: 2,
  seniority: Seniority.SENIORITY_NEW,
  capacity: { chat: 3, voice: 1 },
  wrapUpSeconds: 30,
  queues: ['billing'],
};

describe('agent validation', () => {
  it('a complete agent maps to the engine record field by field', () => {
    expect(toAgentConfig(valid)).toEqual({
      id: 'ana',
      displayName: 'Ana Lima',
      skills: valid.skills,
      teams: ['support'],
      tier: 2,
      seniority: 'new',
      capacity: { chat: 3, voice: 1 },
      wrapUpSeconds: 30,
      queues: ['billing'],
    });
  });

  it('an unset tier means first line and an unset seniority means experienced', () => {
    const a = toAgentConfig({ ...valid, tier: 0, seniority: Seniority.SENIORITY_UNSPECIFIED });
    expect(a.tier).toBe(1);
    expect(a.seniority).toBe('experienced');
  });

  const cases: [string, Partial<Agent> | undefined, string][] = [
    ['missing agent', undefined, 'agent'],
    ['empty id', { id: '' }, 'agent.id'],
    ['id with a slash', { id: 'a/b' }, 'agent.id'],
    ['id too long', { id: 'a'.repeat(129) }, 'agent.id'],
    ['blank display name', { displayName: '  ' }, 'agent.displayName'],
    ['control character in the name', { displayName: 'Ana\u0000' }, 'agent.displayName'],
    ['skill level 0', { skills: [{ skill: 'billing', level: 0 }] }, 'agent.skills[0].level'],
    [
      'skill level 11',
      {
        skills: [
          { skill: 'billing', level: 5 },
          { skill: 'sales', level: 11 },
        ],
      },
      'agent.skills[1].level',
    ],
    ['fractional skill level', { skills: [{ skill: 'billing', level: 2.5 }] }, 'agent.skills[0].level'],
    ['skill level NaN', { skills: [{ skill: 'billing', level: Number.NaN }] }, 'agent.skills[0].level'],
    ['empty skill name', { skills: [{ skill: '', level: 3 }] }, 'agent.skills[0].skill'],
    [
      'duplicate skill',
      {
        skills: [
          { skill: 'a', level: 3 },
          { skill: 'a', level: 4 },
        ],
      },
      'agent.skills[1].skill',
    ],
    [
      '101 skills',
      { skills: Array.from({ length: 101 }, (_, i) => ({ skill: `s${i}`, level: 1 })) },
      'agent.skills',
    ],
    ['tier 11', { tier: 11 }, 'agent.tier'],
    ['negative tier', { tier: -1 }, 'agent.tier'],
    ['unknown seniority', { seniority: 7 as Seniority }, 'agent.seniority'],
    ['unknown channel in capacity', { capacity: { fax: 1 } }, 'agent.capacity.fax'],
    ['negative capacity', { capacity: { chat: -1 } }, 'agent.capacity.chat'],
    ['capacity above 100', { capacity: { chat: 101 } }, 'agent.capacity.chat'],
    ['wrap-up over a day', { wrapUpSeconds: 86_401 }, 'agent.wrapUpSeconds'],
    ['duplicate queue', { queues: ['q', 'q'] }, 'agent.queues[1]'],
    ['bad queue id', { queues: ['ok', 'no spaces'] }, 'agent.queues[1]'],
    ['team name too long', { teams: ['t'.repeat(65)] }, 'agent.teams[0]'],
    ['duplicate team', { teams: ['red', 'blue', 'red'] }, 'agent.teams[2]'],
  ];
  it.each(cases)('%s is rejected naming %s', (_name, patch, field) => {
    const input = patch === undefined ? undefined : { ...valid, ...patch };
    expect(fieldOf(() => toAgentConfig(input))).toBe(field);
  });

  it('presence and outcome must be named values, never the unspecified zero', () => {
    expect(checkPresence(2)).toBe('online');
    expect(fieldOf(() => checkPresence(0))).toBe('presence');
    expect(fieldOf(() => checkPresence(-1))).toBe('presence');
    expect(checkOutcome(3)).toBe('needs_follow_up');
    expect(fieldOf(() => checkOutcome(0))).toBe('outcome');
    // The message offers the values by proto name, never the zero that means "missing".
    expect(() => checkPresence(0)).toThrow(
      'presence: must be one of PRESENCE_OFFLINE, PRESENCE_ONLINE, PRESENCE_AWAY',
    );
  });
});

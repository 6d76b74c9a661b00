import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentConfig, assignments, conversation, offers, only, queueConfig, Scenario } from '../fixtures.js';
import type { StrategyName } from '../types.js';

function desk(strategy: StrategyName, o: Parameters<typeof queueConfig>[1] = {}) {
  const s = new Scenario();
  s.queue(queueConfig('q1', { strategy, ...o }));
  return s;
}

describe('longest idle', () => {
  it('sends to the agent who has waited longest since their last conversation', () => {
    const s = desk('longest_idle');
    s.online(agentConfig('ann', { capacity: { chat: 3 } }), agentConfig('bob', { capacity: { chat: 3 } }));
    s.enqueue(conversation('c1'));
    s.t += 1000;
    s.enqueue(conversation('c2'));
    s.t += 1000;
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.t += 1000;
    // ann got c1 first and became idle again after it; bob has been busy since later.
    expect(assignments(s.enqueue(conversation('c3')))).toEqual(['c3→bob']);
  });
});

describe('most skilled', () => {
  it('sends to the agent with the highest proficiency on the queue skills', () => {
    const s = desk('most_skilled', { requiredSkills: [{ skill: 'billing', minLevel: 2 }] });
    s.online(
      agentConfig('good', { skills: [{ skill: 'billing', level: 6 }] }),
      agentConfig('best', { skills: [{ skill: 'billing', level: 9 }] }),
      agentConfig('ok', { skills: [{ skill: 'billing', level: 3 }] }),
    );
    expect(assignments(s.enqueue(conversation('c1')))).toEqual(['c1→best']);
    expect(assignments(s.enqueue(conversation('c2')))).toEqual(['c2→good']);
  });

  const billing = [{ skill: 'billing', minLevel: 2 }];
  const french = [{ skill: 'lang:fr', minLevel: 1 }];

  it("scores the conversation's own required skills too: the better French speaker wins a French chat", () => {
    const s = desk('most_skilled', { requiredSkills: billing });
    s.online(
      agentConfig('biller', {
        skills: [
          { skill: 'billing', level: 9 },
          { skill: 'lang:fr', level: 2 },
        ],
      }),
      agentConfig('francophone', {
        skills: [
          { skill: 'billing', level: 6 },
          { skill: 'lang:fr', level: 9 },
        ],
      }),
      agentConfig('monolingual', { skills: [{ skill: 'billing', level: 10 }] }),
    );
    // billing + lang:fr: francophone 15, biller 11; monolingual lacks French and is no candidate.
    const events = s.enqueue(conversation('c1', { requiredSkills: french }));
    expect(assignments(events)).toEqual(['c1→francophone']);
    expect(only(events, 'assigned')[0]!.explanation).toMatchObject({
      rule: 'strategy',
      strategy: 'most_skilled',
      scoredSkills: ['billing', 'lang:fr'],
      skillScore: 15,
    });
    // A conversation without skills of its own is scored on the queue's skills alone, as before.
    const plain = s.enqueue(conversation('c2'));
    expect(assignments(plain)).toEqual(['c2→monolingual']);
    expect(only(plain, 'assigned')[0]!.explanation).toMatchObject({
      scoredSkills: ['billing'],
      skillScore: 10,
    });
  });

  it('an agent who frees up and takes a waiting French chat has its score explained', () => {
    const s = desk('most_skilled', { requiredSkills: billing });
    s.online(
      agentConfig('ann', {
        skills: [
          { skill: 'billing', level: 5 },
          { skill: 'lang:fr', level: 7 },
        ],
      }),
    );
    s.enqueue(conversation('c1'));
    expect(only(s.enqueue(conversation('c2', { requiredSkills: french })), 'queued')).toHaveLength(1);
    s.t += 5000;
    const freed = s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(only(freed, 'assigned')[0]).toMatchObject({
      conversationId: 'c2',
      agentId: 'ann',
      explanation: { rule: 'strategy', scoredSkills: ['billing', 'lang:fr'], skillScore: 12, waitedMs: 5000 },
    });
  });

  it('a requirement on a queue skill at a higher level is scored once, on the queue skills', () => {
    const s = desk('most_skilled', { requiredSkills: billing });
    s.online(
      agentConfig('ok', { skills: [{ skill: 'billing', level: 6 }] }),
      agentConfig('best', { skills: [{ skill: 'billing', level: 8 }] }),
    );
    const events = s.enqueue(conversation('c1', { requiredSkills: [{ skill: 'billing', minLevel: 5 }] }));
    expect(assignments(events)).toEqual(['c1→best']);
    expect(only(events, 'assigned')[0]!.explanation).toMatchObject({
      scoredSkills: ['billing'],
      skillScore: 8,
    });
  });

  it('equal scores for the conversation go to the least busy, then the longest idle, whatever the queue score', () => {
    const idle = desk('most_skilled', { requiredSkills: billing });
    // Both score 12 on billing + lang:fr; "fr" has waited longer though "billing" is better on the queue skill.
    idle.online(
      agentConfig('fr', {
        skills: [
          { skill: 'billing', level: 4 },
          { skill: 'lang:fr', level: 8 },
        ],
      }),
    );
    idle.t += 1000;
    idle.online(
      agentConfig('billing', {
        skills: [
          { skill: 'billing', level: 8 },
          { skill: 'lang:fr', level: 4 },
        ],
      }),
    );
    expect(assignments(idle.enqueue(conversation('c1', { requiredSkills: french })))).toEqual(['c1→fr']);

    const busy = desk('most_skilled', { requiredSkills: billing });
    busy.online(
      agentConfig('billing', {
        skills: [
          { skill: 'billing', level: 8 },
          { skill: 'lang:fr', level: 4 },
        ],
        capacity: { chat: 2 },
      }),
      agentConfig('fr', {
        skills: [
          { skill: 'billing', level: 4 },
          { skill: 'lang:fr', level: 8 },
        ],
        capacity: { chat: 2 },
      }),
    );
    expect(assignments(busy.enqueue(conversation('c1')))).toEqual(['c1→billing']);
    // Now "billing" has one open conversation: the tie on 12 goes to the less busy "fr".
    expect(assignments(busy.enqueue(conversation('c2', { requiredSkills: french })))).toEqual(['c2→fr']);
  });

  it('after overflow relaxes the levels the conversation still scores its own skills; dropped skills are not scored', () => {
    const relaxing = (
      action: { kind: 'relax_skills'; by: number } | { kind: 'drop_skills'; skills: string[] },
    ) => {
      const s = desk('most_skilled', {
        requiredSkills: [{ skill: 'billing', minLevel: 4 }],
        overflow: [{ afterSeconds: 30, action }],
      });
      s.online(
        agentConfig('speaker', {
          skills: [
            { skill: 'billing', level: 4 },
            { skill: 'lang:fr', level: 4 },
          ],
        }),
        agentConfig('biller', {
          skills: [
            { skill: 'billing', level: 5 },
            { skill: 'lang:fr', level: 2 },
          ],
        }),
      );
      // Nobody has French at 5: the conversation waits for the overflow step.
      expect(
        assignments(s.enqueue(conversation('c1', { requiredSkills: [{ skill: 'lang:fr', minLevel: 5 }] }))),
      ).toEqual([]);
      return only(s.advance(30_000), 'assigned');
    };
    // Relaxed by 3 (lang:fr ≥ 2): both qualify; billing + lang:fr = 8 against 7.
    const relaxed = relaxing({ kind: 'relax_skills', by: 3 });
    expect(relaxed.map((e) => e.agentId)).toEqual(['speaker']);
    expect(relaxed[0]!.explanation).toMatchObject({ scoredSkills: ['billing', 'lang:fr'], skillScore: 8 });
    // French dropped: only billing counts (5 against 4).
    const dropped = relaxing({ kind: 'drop_skills', skills: ['lang:fr'] });
    expect(dropped.map((e) => e.agentId)).toEqual(['biller']);
    expect(dropped[0]!.explanation).toMatchObject({ scoredSkills: ['billing'], skillScore: 5 });
  });
});

describe('most skilled against a brute-force choice', () => {
  const SKILLS = ['billing', 'support', 'lang:fr', 'lang:de'];
  const level = fc.nat(10); // 0 = skill not held
  const requirement = fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined });

  it('picks the highest sum over queue and conversation skills, then least busy, then longest idle, then first configured', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(level, level, level, level), { minLength: 1, maxLength: 20 }),
        fc.tuple(requirement, requirement), // queue: billing, support
        fc.tuple(requirement, requirement, requirement), // conversation: support, lang:fr, lang:de
        fc.nat(12),
        (levels, queueReqs, convReqs, warmUp) => {
          const reqs = (names: string[], mins: (number | undefined)[]) =>
            names.flatMap((skill, i) => (mins[i] === undefined ? [] : [{ skill, minLevel: mins[i]! }]));
          const queueSkills = reqs(['billing', 'support'], queueReqs);
          const convSkills = reqs(['support', 'lang:fr', 'lang:de'], convReqs);
          const s = desk('most_skilled', { requiredSkills: queueSkills });
          const ids = levels.map((_, i) => `a${i}`);
          const load = new Map<string, number>();
          const idle = new Map<string, number>();
          levels.forEach((ls, i) => {
            const skills = SKILLS.flatMap((skill, k) => (ls[k]! > 0 ? [{ skill, level: ls[k]! }] : []));
            s.online(agentConfig(ids[i]!, { skills, capacity: { chat: 3 } }));
            load.set(ids[i]!, 0);
            idle.set(ids[i]!, s.t);
            s.t += 1;
          });
          // Some plain conversations first, so that loads and idle times differ.
          for (let k = 0; k < warmUp; k++) {
            for (const a of only(s.enqueue(conversation(`w${k}`)), 'assigned')) {
              load.set(a.agentId, load.get(a.agentId)! + 1);
              idle.set(a.agentId, s.t);
            }
            s.t += 1;
          }
          const lv = (i: number, skill: string) => levels[i]![SKILLS.indexOf(skill)]!;
          const scored = [...new Set([...queueSkills, ...convSkills].map((r) => r.skill))];
          const candidates = ids
            .map((id, i) => ({ id, i, total: scored.reduce((t, sk) => t + lv(i, sk), 0) }))
            .filter(
              ({ id, i }) =>
                load.get(id)! < 3 &&
                [...queueSkills, ...convSkills].every((r) => lv(i, r.skill) >= r.minLevel),
            )
            .sort(
              (x, y) =>
                y.total - x.total ||
                load.get(x.id)! - load.get(y.id)! ||
                idle.get(x.id)! - idle.get(y.id)! ||
                x.i - y.i,
            );
          const events = s.enqueue(conversation('c', { requiredSkills: convSkills }));
          const got = only(events, 'assigned').filter((e) => e.conversationId === 'c');
          if (candidates.length === 0) {
            expect(got).toEqual([]);
            return;
          }
          expect(got.map((e) => e.agentId)).toEqual([candidates[0]!.id]);
          expect(got[0]!.explanation).toMatchObject({
            scoredSkills: scored,
            skillScore: candidates[0]!.total,
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('broadcast', () => {
  it('offers to several agents at once; the first to accept wins and the others are rescinded', () => {
    const s = desk('broadcast', { broadcastWidth: 2, offerTimeoutSeconds: 20 });
    s.online(agentConfig('ann'), agentConfig('bob'), agentConfig('cat'));
    const offered = s.enqueue(conversation('c1'));
    expect(offers(offered)).toHaveLength(2);
    const [first, second] = only(offered, 'offered').map((e) => e.agentId);
    const accepted = s.when({ type: 'accept_offer', agentId: second!, conversationId: 'c1' });
    expect(assignments(accepted)).toEqual([`c1→${second}`]);
    expect(only(accepted, 'offer_rescinded')).toEqual([
      {
        type: 'offer_rescinded',
        conversationId: 'c1',
        agentId: first,
        queueId: 'q1',
        reason: 'accepted_elsewhere',
      },
    ]);
  });

  it('a broadcast nobody accepts is offered to the remaining agents after the timeout', () => {
    const s = desk('broadcast', { broadcastWidth: 2, offerTimeoutSeconds: 20 });
    s.online(agentConfig('ann'), agentConfig('bob'), agentConfig('cat'));
    s.enqueue(conversation('c1'));
    const after = s.advance(20_000);
    expect(only(after, 'offer_missed')).toHaveLength(2);
    expect(offers(after)).toEqual(['c1→cat']);
  });
});

describe('manual', () => {
  it('never assigns by itself, even with agents free', () => {
    const s = desk('manual');
    s.online(agentConfig('ann'));
    expect(assignments(s.enqueue(conversation('c1')))).toEqual([]);
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([]);
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats).toMatchObject({ waiting: 1, agentsAvailable: 1 });
  });
});

describe('manual and customer rules', () => {
  it('a manual queue does not send a returning customer to the previous agent by itself', () => {
    const s = desk('manual');
    s.online(agentConfig('ann'));
    s.given({
      type: 'upsert_customer',
      customer: { id: 'alice', valueTier: 'standard', previousAgents: ['ann'] },
    });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]);
  });
});

describe('round robin with online only', () => {
  function rotation(onlineOnly: boolean): string[] {
    const s = desk('round_robin', { onlineOnly });
    s.online(...['ann', 'bob', 'cat'].map((id) => agentConfig(id, { capacity: { chat: 9 } })));
    const got: string[] = [];
    const take = (id: string) => got.push(assignments(s.enqueue(conversation(id)))[0]!.split('→')[1]!);
    take('c1'); // ann
    s.given({ type: 'set_presence', agentId: 'bob', presence: 'away' });
    take('c2'); // cat (bob away)
    take('c3'); // ann
    s.given({ type: 'set_presence', agentId: 'bob', presence: 'online' });
    take('c4');
    take('c5');
    take('c6');
    return got;
  }

  it('without online only, an agent who was away catches up on the turn they missed', () => {
    expect(rotation(false)).toEqual(['ann', 'cat', 'ann', 'bob', 'cat', 'ann']);
  });

  it('with online only, an agent who was away rejoins at the back of the rotation', () => {
    expect(rotation(true)).toEqual(['ann', 'cat', 'ann', 'cat', 'ann', 'bob']);
  });
});

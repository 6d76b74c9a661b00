import type { Lane, Member } from '../model.js';
import type { SkillRequirement } from '../types.js';
import { idleSince, type RoutingStrategy } from './strategy.js';

/** Highest level a skill can have (`validate.ts`: levels and minimum levels are 1..10). */
const MAX_LEVEL = 10;

/**
 * `most_skilled`: highest summed proficiency on the skills the conversation requires — its lane's
 * required skills (the queue's, after the overflow steps applied) and the conversation's own beyond
 * them — then least busy, then longest idle, then the agent's sequence number (who was configured first).
 *
 * The pool is a heap per lane, so its keys can only hold what is known per lane: the queue-skill part of
 * the score (`Member.score`, computed when the agent joins the lane). A conversation without skills of its
 * own, or whose skills the lane already requires, is therefore picked at the top of the heap, O(1) as for
 * every strategy. A conversation with skills of its own (`Conv.adHoc`, e.g. `lang:fr`) is already matched
 * by the bounded best-first walk of the pool (only the agents holding those skills are candidates); among
 * the candidates that walk meets, `pickAdHoc` takes the best by the whole score. The walk visits members
 * by queue score, highest first, and an agent's own-skill part is at most 10 per such skill, so it stops
 * as soon as the queue score of the next member plus that maximum cannot reach the best total found:
 * exact whenever the bound closes or the pool is shorter than the walk's limit; past the limit (64
 * entries) it is the best of the 64 strongest on the queue's skills — the same bounded lazy search the
 * engine already documents for such conversations. An exact index would need a heap per lane and skill
 * kept on every load change of every agent (`README.md`, Indexes), for the rare ad-hoc skill.
 */
export const mostSkilled: RoutingStrategy = {
  name: 'most_skilled',
  automatic: true,
  // Score ≤ 64 skills × 10; load < 1024 (capacity is at most 1000).
  key1: (m) => -m.score * 1024 + m.agent.loadOn(m.lane.ch),
  key2: idleSince,
  width: () => 1,

  pickAdHoc(lane, conv, eligible, limit) {
    const own = conv.adHoc!;
    const extra = extraCount(lane, own);
    // Nothing to add to the queue score: pool order is the strategy's order, the first eligible wins.
    if (extra === 0) return lane.pool.findFirst(eligible, limit);
    const reach = extra * MAX_LEVEL;
    const ch = lane.ch;
    let best: Member | undefined;
    let bestTotal = -1;
    let bestLoad = 0;
    let bestIdle = 0;
    let bestSeq = 0;
    // `findTop(…, 1, …)` stops at the first `true`: returned only once nobody further can win.
    lane.pool.findTop(
      (m) => {
        if (m.score + reach < bestTotal) return true;
        if (!eligible(m)) return false;
        const a = m.agent;
        const total = m.score + ownScore(lane, own, m);
        const load = a.loadOn(ch);
        if (
          best === undefined ||
          total > bestTotal ||
          (total === bestTotal &&
            (load < bestLoad ||
              (load === bestLoad &&
                (a.idleSince < bestIdle || (a.idleSince === bestIdle && a.seq < bestSeq)))))
        ) {
          best = m;
          bestTotal = total;
          bestLoad = load;
          bestIdle = a.idleSince;
          bestSeq = a.seq;
        }
        return false;
      },
      1,
      limit,
    );
    return best;
  },

  explainPick(m, conv, e) {
    const lane = m.lane;
    const own = conv.adHoc;
    if (own === null || extraCount(lane, own) === 0) {
      // The lane's frozen list, shared by its explanations (no copy per decision).
      e.scoredSkills = lane.scoredSkills;
      e.skillScore = m.score;
      return;
    }
    const skills = lane.scoredSkills.slice();
    for (const r of own) if (!lane.scoredSkills.includes(r.skill)) skills.push(r.skill);
    e.scoredSkills = skills;
    e.skillScore = m.score + ownScore(lane, own, m);
  },
};

/**
 * How many of the conversation's own requirements name a skill the lane's score leaves out (a higher
 * level on a queue skill is a stricter filter, not another skill: it is scored once). Requirement lists
 * never repeat a skill (`validate.ts`).
 */
function extraCount(lane: Lane, own: readonly SkillRequirement[]): number {
  const scored = lane.scoredSkills;
  let n = 0;
  for (let i = 0; i < own.length; i++) if (!scored.includes(own[i]!.skill)) n++;
  return n;
}

/** The member's summed level on the conversation's own skills that the lane's score leaves out. */
function ownScore(lane: Lane, own: readonly SkillRequirement[], m: Member): number {
  const scored = lane.scoredSkills;
  let s = 0;
  for (let i = 0; i < own.length; i++) {
    const skill = own[i]!.skill;
    if (!scored.includes(skill)) s += m.agent.level(skill);
  }
  return s;
}

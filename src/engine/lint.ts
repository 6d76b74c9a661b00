/**
 * Configuration lint: finds setups that cannot work (nobody can serve a queue, a skill nobody has, an
 * overflow step that fires after the SLA is already lost, zero capacity on a queue's only channel, a
 * service-level target whose at-risk band reaches 100 %,
 * references to unknown queues or agents). Read-only; O(queues × lanes + agents).
 */
import type { Partition } from './partition.js';
import type { LintFinding } from './types.js';

export function lint(p: Partition): LintFinding[] {
  const out: LintFinding[] = [];
  for (const q of p.queues.values()) {
    const cfg = q.cfg;
    for (const r of cfg.requiredSkills) {
      if (!p.skillHolders.has(r.skill))
        out.push({
          code: 'SKILL_NOBODY_HAS',
          severity: 'error',
          message: `queue "${q.id}" requires skill "${r.skill}" that no agent has`,
          queueId: q.id,
        });
    }
    const base = q.lanes[0]!;
    if (base.members.size === 0) {
      out.push({
        code: 'QUEUE_NOBODY_SERVES',
        severity: 'error',
        message: `no agent can serve queue "${q.id}" (skills, levels or explicit queue lists)`,
        queueId: q.id,
      });
    } else {
      let capacity = 0;
      for (const m of base.members) capacity += m.agent.capOn(q.ch);
      if (capacity === 0)
        out.push({
          code: 'CHANNEL_NO_CAPACITY',
          severity: 'error',
          message: `every agent of queue "${q.id}" has capacity 0 on ${cfg.channel}`,
          queueId: q.id,
        });
    }
    // The at-risk band is [target, target + margin) capped at 100 %: reaching 100 % it no longer warns
    // ahead of a breach (target 100 %: none at all, any late answer breaches) or it stays at risk until
    // every answer in the window was in time.
    const target = cfg.serviceLevel.target;
    const margin = p.config.slaAtRiskMargin;
    if (margin > 0 && target + margin >= 1)
      out.push({
        code: 'SLA_NO_AT_RISK_BAND',
        severity: 'warning',
        message:
          target >= 1
            ? `queue "${q.id}" has a 100 % service-level target: any late answer breaches it, with no at-risk warning first`
            : `queue "${q.id}" service-level target ${pct(target)} + at-risk margin ${pct(margin)} reaches 100 %: the queue is at risk whenever one answer in its window was late`,
        queueId: q.id,
      });
    cfg.overflow.forEach((s, i) => {
      if (s.afterSeconds > cfg.serviceLevel.thresholdSeconds)
        out.push({
          code: 'OVERFLOW_AFTER_SLA',
          severity: 'warning',
          message: `queue "${q.id}" overflow step ${i} waits ${s.afterSeconds}s, beyond the ${cfg.serviceLevel.thresholdSeconds}s service-level threshold`,
          queueId: q.id,
        });
      if (s.action.kind === 'widen_to_queue' && !p.queues.has(s.action.queueId))
        out.push({
          code: 'UNKNOWN_QUEUE_REF',
          severity: 'error',
          message: `queue "${q.id}" overflow step ${i} widens to unknown queue "${s.action.queueId}"`,
          queueId: q.id,
        });
    });
  }
  p.config.queueRules.forEach((r, i) => {
    if (!p.queues.has(r.queueId))
      out.push({
        code: 'UNKNOWN_QUEUE_REF',
        severity: 'error',
        message: `queue rule ${i} routes to unknown queue "${r.queueId}"`,
        queueId: r.queueId,
      });
  });
  for (const a of p.agents.values()) {
    for (const qid of a.cfg.queues) {
      if (!p.queues.has(qid))
        out.push({
          code: 'UNKNOWN_QUEUE_REF',
          severity: 'warning',
          message: `agent "${a.id}" lists unknown queue "${qid}"`,
          agentId: a.id,
          queueId: qid,
        });
    }
  }
  for (const c of p.customers.configured.values()) {
    if (c.dedicatedAgentId !== undefined && !p.agents.has(c.dedicatedAgentId))
      out.push({
        code: 'UNKNOWN_AGENT_REF',
        severity: 'warning',
        message: `customer "${c.id}" has unknown dedicated agent "${c.dedicatedAgentId}"`,
        agentId: c.dedicatedAgentId,
      });
  }
  return out;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

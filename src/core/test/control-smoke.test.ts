import {describe, expect, it} from 'vitest';
import {Simulation} from './control-sim.js';

describe('smoke', () => {
  it.each([0.05, 0.1, 0.2])('loss %f', async (loss) => {
    const sim = new Simulation({peers: 50, clients: 5, seed: 5, lossRate: loss});
    await sim.start();
    await sim.advance(120_000);
    const probes = sim.nodes.reduce((t, n) => t + n.control.stats().probeRounds, 0);
    const relayed = sim.nodes.reduce((t, n) => t + n.control.stats().heartbeatsRelayed, 0);
    console.log(loss, 'probes', probes, 'relayed', relayed, 'events', sim.events.length, sim.events.slice(0, 5));
    await sim.stop();
  });
  it('silent crash', async () => {
    const sim = new Simulation({peers: 20, clients: 3, seed: 6});
    await sim.start();
    await sim.advance(10_000);
    for (const v of [sim.nodes[4]!, sim.nodes[21]!]) {
      await sim.crashSilently(v);
      const t = await sim.until(() => sim.allViewsAre(sim.upNodes), 20_000, 'x', 10);
      console.log('silent crash', v.role, t, sim.events.filter(e => e.target !== sim.nodes[4]!.id && e.target !== sim.nodes[21]!.id).length);
    }
    await sim.stop();
  });
});

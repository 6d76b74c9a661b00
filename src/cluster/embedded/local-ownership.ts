/**
 * Embedded `Ownership`: a single node owns every partition, forever. (Two processes must not share one
 * data directory; `createEmbeddedPorts` guards that with a lock file.)
 */
import type { Ownership, OwnershipChange } from '../ports.js';

/** This node owns everything; `onChange` never fires. */
export class LocalOwnership implements Ownership {
  constructor(readonly nodeId: string) {}
  async start(): Promise<void> {}
  async acquire(_partition: string): Promise<boolean> {
    return true;
  }
  owns(_partition: string): boolean {
    return true;
  }
  ownerOf(_partition: string): string | null {
    return this.nodeId;
  }
  onChange(_listener: (c: OwnershipChange) => void): () => void {
    return () => {};
  }
  async stop(): Promise<void> {}
}

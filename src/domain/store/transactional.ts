/**
 * A set of ports that can also run work in one transaction: `fn` gets the same ports bound to
 * the transaction, and a thrown error rolls back everything it wrote.
 */
export interface Transactional<P> {
  transaction<T>(fn: (tx: P) => Promise<T>): Promise<T>;
}

/** The ports a domain service uses, usable directly or inside a transaction. */
export type Ports<P> = P & Transactional<P>;

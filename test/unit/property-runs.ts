/**
 * A property whose test also checks what its random cases reached (every kind of answer, a
 * mapping above 2^48, vfio refusing a duplicate) runs twice: first with a fixed seed, so that
 * those checks see the same cases on every run and cannot fail by chance, then with a fresh
 * seed, so that each run still explores cases no earlier run drew. fast-check reports the
 * seed and the shrunk case of a failure in either run.
 */
import fc from 'fast-check';

export function assertCovering<Ts>(property: fc.IProperty<Ts>, params: fc.Parameters<Ts> & { readonly seed: number }): void {
  fc.assert(property, params);
  const { seed: _fixed, ...fresh } = params;
  fc.assert(property, fresh);
}

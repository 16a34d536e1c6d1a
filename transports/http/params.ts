/** Readers of query and path parameters into the values the protocol's parsers validate. */

/** `1/true/yes` and `0/false/no`; anything else is passed on for the parser to reject by name. */
export const flag = (v: string | undefined): boolean | undefined =>
  v === undefined ? undefined : ['1', 'true', 'yes'].includes(v.toLowerCase()) ? true
    : ['0', 'false', 'no'].includes(v.toLowerCase()) ? false : (v as unknown as boolean);

/** A decimal integer, or the raw text for the parser to reject by name. */
export const int = (v: string | undefined): unknown => (v === undefined || v === '' ? undefined : /^-?\d+$/.test(v) ? Number(v) : v);

export { clientSignal } from './client-signal.js';

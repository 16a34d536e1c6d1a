/** Bumped when a wire shape changes incompatibly; clients compare it with `status`. */
export const PROTOCOL_VERSION = 1;
export const SERVICE_VERSION = '0.1.0';
